"""Request counts and latency for ``/metrics``, measured around the whole ASGI app.

A plain ASGI wrapper rather than Starlette's ``BaseHTTPMiddleware``: that one
runs the app in a separate task and pipes the response through a memory
stream, which costs more per request than the prediction itself. Here the
request passes straight through; only the response status is noted on the way
out. The route label is the matched route's path template (set in the scope
by the router), so ids in paths never explode the label set.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import ServingMetrics


class RequestMetricsMiddleware:
    """Counts every HTTP request by method, route and status, and observes its latency by route."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before it starts a response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_noting_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self._metrics.request_latency.labels(route).observe(time.perf_counter() - started)
            self._metrics.requests.labels(scope["method"], route, str(status)).inc()
