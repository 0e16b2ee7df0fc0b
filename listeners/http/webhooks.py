"""``POST /webhooks/{source}``: verify, parse, write to the ledger, then acknowledge.

The answer is sent only after the ledger transaction commits: 202 with the
event ids for news, 200 ``{"duplicate": true}`` for a redelivery (which starts
nothing), 200 ``{"ignored": ...}`` for a ping or an event kind no rule uses.
The cheap refusals (unknown source, content type, size over the source's
limit, a missing or malformed signature header) come before the body is
read, and only a few large bodies are read at once
(:mod:`listeners.http.large_bodies`). A typical delivery (a few KB) is hashed, verified and parsed right on
the event loop: that takes a fraction of a millisecond, less than handing it
to a worker thread and back costs under the GIL. A large body goes to the
thread pool, where hashlib hashes it without the GIL and the loop keeps
serving other requests. The ledger write is shared with concurrent requests
(:mod:`listeners.http.group_commit`), so a slow fsync never blocks the event
loop nor serializes the requests.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from listeners import metrics
from listeners.http.body import read_body
from listeners.http.group_commit import GroupCommitter
from listeners.http.large_bodies import INLINE_BODY_BYTES, LargeBodySlots
from listeners.intake import Intake
from listeners.rejections import SourceClosedError, UnsupportedMediaTypeError
from listeners.sources import Delivery, Headers, Ignored, ParseResult, get_source


def webhook_router(
    intake: Intake,
    committer: GroupCommitter,
    *,
    body_limits: Mapping[str, int],
    open_sources: Collection[str],
    large_bodies: LargeBodySlots,
) -> APIRouter:
    """``body_limits`` is the largest body of each source."""
    router = APIRouter()

    def admit(source: str, headers: Headers, body: bytes) -> ParseResult:
        """Hash, verify and parse: pure CPU work, no I/O."""
        fallback_key = f"{source}:sha256:{hashlib.sha256(body).hexdigest()}"
        return intake.admit(Delivery(source, headers, body, fallback_key))

    async def ingest(source: str, headers: Headers, body: bytes) -> tuple[int, dict[str, Any]]:
        if len(body) <= INLINE_BODY_BYTES:
            result = admit(source, headers, body)
        else:
            result = await run_in_threadpool(admit, source, headers, body)
        if isinstance(result, Ignored):
            return 200, {"ignored": result.reason}
        records = await committer.record(source, result)
        ids = [r.event_id for r in records]
        if all(r.duplicate for r in records):
            return 200, {"duplicate": True, "event_ids": ids}
        return 202, {"duplicate": False, "event_ids": ids}

    @router.post("/webhooks/{source}", status_code=202, summary="Receive one webhook delivery")
    async def receive(source: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        spec = get_source(source)
        if source not in open_sources:
            raise SourceClosedError(f"source {source!r} is not open here (listeners.webhooks.sources)")
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in spec.content_types:
            raise UnsupportedMediaTypeError(
                f"content type {media_type or '(none)'!r} is not accepted; send {', '.join(sorted(spec.content_types))}"
            )
        headers = {name.lower(): value for name, value in request.headers.items()}
        intake.check_headers(spec, headers)
        async with large_bodies.held_for(headers.get("content-length")):
            body = await read_body(request, body_limits[source])
            status, answer = await ingest(source, headers, body)
        metrics.ACK_LATENCY.labels(source).observe(time.perf_counter() - started)
        return JSONResponse(answer, status_code=status)

    return router
