"""Real local HTTP servers the GitOps tests talk to: git over smart HTTP, and a git host's REST API.

``GitHttpServer`` serves bare repos through ``git http-backend`` (git's own
CGI program) behind HTTP basic auth, so cloning and pushing with a token goes
through exactly the code path it takes against a real git host, and a wrong
token is really refused with 401.

``ForgeApiServer`` implements the few REST endpoints the pull-request mode
uses, in the GitHub, GitLab or Gitea dialect: create a pull/merge request
(answering 422/409 when one is already open for the branch) and list them.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], state: Any) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class GitHttpState:
    project_root: Path
    token: str


class _GitHttpHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        state: GitHttpState = self.server.state  # type: ignore[attr-defined]
        expected = base64.b64encode(f"x-access-token:{state.token}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        serve_git(self, state.project_root, remote_user="x-access-token")


def serve_git(handler: BaseHTTPRequestHandler, project_root: Path, remote_user: str | None) -> None:
    """Answer ``handler``'s request with ``git http-backend`` over the bare repos in ``project_root``.

    Without a ``remote_user`` the request is anonymous, and git itself refuses pushes (``receive-pack``).
    """
    url = urlsplit(handler.path)
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    env = {
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": handler.command,
        "PATH_INFO": unquote(url.path),
        "QUERY_STRING": url.query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
        "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
        "REMOTE_ADDR": handler.client_address[0],
        **({"REMOTE_USER": remote_user} if remote_user else {}),
    }
    out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=True).stdout
    head, _, payload = out.partition(b"\r\n\r\n")
    headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
    status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
    handler.send_response(status)
    for key, value in headers:
        if key.lower() != "status":
            handler.send_header(key, value.strip())
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


@contextmanager
def git_http_server(project_root: Path, token: str) -> Iterator[str]:
    """Serve the bare repos under ``project_root`` at the yielded base URL, for ``token`` only."""
    with serving(_GitHttpHandler, GitHttpState(project_root, token)) as url:
        yield url


@dataclass
class ForgeState:
    provider: str
    token: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)


_AUTH = {
    "github": ("Authorization", "Bearer {}"),
    "gitea": ("Authorization", "token {}"),
    "gitlab": ("PRIVATE-TOKEN", "{}"),
}


class _ForgeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    @property
    def state(self) -> ForgeState:
        return self.server.state  # type: ignore[attr-defined,no-any-return]

    def _reply(self, status: int, document: Any) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorized(self) -> bool:
        header, template = _AUTH[self.state.provider]
        return self.headers.get(header) == template.format(self.state.token)

    def _collection_path(self) -> str:
        return "/projects/ml%2Fgitops/merge_requests" if self.state.provider == "gitlab" else "/repos/ml/gitops/pulls"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.state.requests.append({"method": "POST", "path": self.path, "body": body})
        if not self._authorized():
            return self._reply(401, {"message": "Bad credentials"})
        if urlsplit(self.path).path != self._collection_path():
            return self._reply(404, {"message": "Not Found"})
        head = body.get("source_branch") or body.get("head")
        if any(self._head_of(pr) == head for pr in self.state.created):
            return self._reply(422 if self.state.provider == "github" else 409, {"message": "already exists"})
        number = len(self.state.created) + 1
        kind = "-/merge_requests" if self.state.provider == "gitlab" else "pull"
        web = f"https://forge.test/ml/gitops/{kind}/{number}"
        if self.state.provider == "gitlab":
            created = {"iid": number, "web_url": web, "source_branch": head, "target_branch": body["target_branch"]}
        else:
            created = {"number": number, "html_url": web, "head": {"ref": head}, "base": {"ref": body["base"]}}
        created["title"] = body["title"]
        created["body"] = body.get("body") or body.get("description")
        self.state.created.append(created)
        return self._reply(201, created)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        self.state.requests.append({"method": "GET", "path": url.path, "query": query})
        if not self._authorized():
            return self._reply(401, {"message": "Bad credentials"})
        listed = self.state.created
        if self.state.provider == "github" and "head" in query:
            listed = [pr for pr in listed if f"ml:{pr['head']['ref']}" == query["head"]]
        return self._reply(200, listed)

    @staticmethod
    def _head_of(pr: dict[str, Any]) -> str:
        return str(pr.get("source_branch") or pr["head"]["ref"])


@contextmanager
def forge_api_server(provider: str, token: str) -> Iterator[tuple[str, ForgeState]]:
    """A git host API in ``provider``'s dialect; yields its base URL and what it received and created."""
    state = ForgeState(provider, token)
    with serving(_ForgeHandler, state) as url:
        yield url, state
