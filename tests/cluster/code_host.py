"""The ML repository's git host as the pipelines' pods meet it: git's smart HTTP over TLS on the node's address.

A retrain names its repository by a clone URL (``https://`` or ``ssh://``; the service refuses others), and
Argo's ``init`` container clones it for the repository steps. The run serves the scaffolded churn repository
(``mlops-gitops init ml-repo``) through ``git http-backend`` with a certificate the run's CA signed for the
node's bridge address; Argo's executor trusts that CA through the ``kube-root-ca.crt`` ConfigMap
(``tests.cluster.argo``), as a cluster whose git host has a private CA would be configured. Requests are
anonymous, so git itself refuses pushes; the repository is pushed here from the host's file system.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.cluster.network import NODE_IP
from tests.cluster.pki import Pki, server_certificate
from tests.gitops.http_servers import serve_git
from tests.upstream import REPO_ROOT

REPOSITORY = "churn-ml.git"
BRANCH = "main"


@dataclass(frozen=True)
class CodeHost:
    url: str  # https://10.244.0.1:PORT/churn-ml.git
    commit: str  # the branch's head


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        serve_git(self, self.server.project_root, remote_user=None)  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        serve_git(self, self.server.project_root, remote_user=None)  # type: ignore[attr-defined]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def _scaffold(root: Path) -> str:
    """The churn repository as ``mlops-gitops init ml-repo`` makes it (one commit), in a bare repo; its head."""
    work = root / "churn-ml"
    init = [sys.executable, "-m", "mlops_gitops", "init", "ml-repo", str(work)]
    subprocess.run(init, cwd=REPO_ROOT, check=True, capture_output=True)  # its Feast definitions: feature_repo/
    bare = root / REPOSITORY
    _git("clone", "--quiet", "--bare", str(work), str(bare))
    return _git("--git-dir", str(bare), "rev-parse", BRANCH).strip()


@contextmanager
def serving_code(pki: Pki, root: Path) -> Iterator[CodeHost]:
    """Serve the scaffolded repository over HTTPS on the node's address while the block runs."""
    root.mkdir(parents=True)
    commit = _scaffold(root)
    certificate = server_certificate(pki, "code-host", NODE_IP)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    server = ThreadingHTTPServer((NODE_IP, 0), _Handler)
    server.project_root = root  # type: ignore[attr-defined]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield CodeHost(url=f"https://{NODE_IP}:{server.server_address[1]}/{REPOSITORY}", commit=commit)
    finally:
        server.shutdown()
        server.server_close()
