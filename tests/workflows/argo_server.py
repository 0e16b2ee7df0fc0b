"""A small real Argo Server stand-in: the REST endpoints the Argo backend uses, over real HTTP.

It listens on 127.0.0.1 on a free port and implements
``POST /api/v1/workflows/{namespace}``, ``GET /api/v1/workflows/{namespace}/{name}``
and ``PUT /api/v1/workflows/{namespace}/{name}/stop``
the way the Argo Server answers them (grpc-gateway error bodies, 401 without
the bearer token, 409 for an existing name, 404 for an unknown one). Every
request body is validated against the Argo Server's ``swagger.json`` (and a
created Workflow against the Workflow JSON Schema); an invalid body gets the
400 the real server would send and is kept in ``rejected`` for the test to
show. Tests drive the rest: ``set_status`` plays the workflow controller, and
queued ``Fault``s answer the next requests with an error status or a delay,
and ``status_on_create`` lets a run "finish" as soon as it is created.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.workflows.schemas import (
    ARGO_CREATE_REQUEST,
    ARGO_STOP_REQUEST,
    argo_api_validator,
    argo_workflow_validator,
    errors,
)

_PREFIX = "/api/v1/workflows/"


@dataclass(frozen=True)
class Fault:
    """Answer one request with ``status`` (when set) after sleeping ``delay_seconds``."""

    status: int | None = None
    delay_seconds: float = 0.0
    retry_after: str | None = None
    """A ``Retry-After`` header to answer with."""


class FakeArgoServer:
    def __init__(self, token: str) -> None:
        self.token = token
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.create_requests = 0
        self.rejected: list[tuple[dict[str, Any], list[str]]] = []
        self.faults: deque[Fault] = deque()
        self.status_on_create: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-argo-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeArgoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def set_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Play the workflow controller: replace the stored workflow's ``status`` (which must be schema-valid)."""
        with self._lock:
            updated = {**self.workflows[(namespace, name)], "status": status}
            problems = errors(argo_workflow_validator(), updated)
            assert not problems, f"the test wrote an impossible workflow status: {problems}"
            self.workflows[(namespace, name)] = updated

    # -- request handling, called from the handler threads --------------------------------

    def create(self, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problems = errors(argo_api_validator(ARGO_CREATE_REQUEST), body)
        if "workflow" in body:
            problems += errors(argo_workflow_validator(), body["workflow"])
        if problems:
            self.rejected.append((body, problems))
            return HTTPStatus.BAD_REQUEST, _error(3, "; ".join(problems))
        workflow = body["workflow"]
        name = workflow["metadata"]["name"]
        with self._lock:
            self.create_requests += 1
            if (namespace, name) in self.workflows:
                return HTTPStatus.CONFLICT, _error(6, f'workflows.argoproj.io "{name}" already exists')
            stored = {
                **workflow,
                "metadata": {**workflow["metadata"], "namespace": namespace, "uid": f"uid-{len(self.workflows)}"},
                "status": self.status_on_create,
            }
            self.workflows[(namespace, name)] = stored
        return HTTPStatus.OK, stored

    def stop_workflow(self, namespace: str, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Stop a workflow the way the controller reports it: shut down, phase Failed."""
        problems = errors(argo_api_validator(ARGO_STOP_REQUEST), body)
        if problems:
            self.rejected.append((body, problems))
            return HTTPStatus.BAD_REQUEST, _error(3, "; ".join(problems))
        with self._lock:
            workflow = self.workflows.get((namespace, name))
            if workflow is None:
                return HTTPStatus.NOT_FOUND, _error(5, f'workflows.argoproj.io "{name}" not found')
            workflow["spec"] = {**workflow["spec"], "shutdown": "Stop"}
            workflow["status"] = {**workflow["status"], "phase": "Failed", "message": "Stopped with strategy 'Stop'"}
        return HTTPStatus.OK, workflow

    def get(self, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            workflow = self.workflows.get((namespace, name))
        if workflow is None:
            return HTTPStatus.NOT_FOUND, _error(5, f'workflows.argoproj.io "{name}" not found')
        return HTTPStatus.OK, workflow

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None


def _error(code: int, message: str) -> dict[str, Any]:
    """A grpc-gateway error body, as the Argo Server sends for every non-2xx answer."""
    return {"code": code, "message": message}


def _handler_for(server: FakeArgoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def do_PUT(self) -> None:
            self._answer("PUT")

        def _answer(self, method: str) -> None:
            fault = server.next_fault()
            if fault is not None:
                time.sleep(fault.delay_seconds)
                if fault.status is not None:
                    self._send(fault.status, _error(14, "injected fault"), retry_after=fault.retry_after)
                    return
            if self.headers.get("Authorization") != f"Bearer {server.token}":
                self._send(HTTPStatus.UNAUTHORIZED, _error(16, "token not valid"))
                return
            parts = self.path.split("?", 1)[0].removeprefix(_PREFIX).split("/")
            route = (method, len(parts), parts[-1]) if self.path.startswith(_PREFIX) else None
            if route is not None and route[:2] == ("POST", 1):
                self._send(*server.create(parts[0], self._body()))
            elif route is not None and route[:2] == ("GET", 2):
                self._send(*server.get(*parts))
            elif route == ("PUT", 3, "stop"):
                self._send(*server.stop_workflow(parts[0], parts[1], self._body()))
            else:
                self._send(HTTPStatus.NOT_FOUND, _error(5, f"no route for {method} {self.path}"))

        def _body(self) -> dict[str, Any]:
            body: dict[str, Any] = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            return body

        def _send(self, status: int, body: dict[str, Any], retry_after: str | None = None) -> None:
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (time-out tests)

    return Handler
