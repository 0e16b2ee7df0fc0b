"""The ML repositories' git host as the pipelines' pods meet it: git's smart HTTP over TLS on the node's address.

A retrain names its repository by a clone URL (``https://`` or ``ssh://``; the service refuses others), and
Argo's ``init`` container clones it for the repository steps. The run serves two teams' repositories through
``git http-backend`` with a certificate the run's CA signed for the node's bridge address: the churn repository
as ``mlops-gitops init ml-repo`` scaffolds it, and the fraud repository of the second-domain test
(``tests/workflows/fraud_repo``), each one commit. Argo's executor trusts that CA through the
``kube-root-ca.crt`` ConfigMap (``tests.cluster.argo``), as a cluster whose git host has a private CA would be
configured. Requests are anonymous, so git itself refuses pushes; the repositories are pushed here from the
host's file system.

Each repository sits where a git host keeps ``owner/name``; the churn one at the name the deployed
``retrain-on-push`` rule watches, so the service running in the cluster can be told how to clone it as it is
told for GitHub (``listeners.webhooks.clone_urls``), and a later commit can be pushed and described as GitHub's
webhook would.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devtools.devstack.git_payloads import Push, describe_push, git
from tests.cluster.network import NODE_IP
from tests.cluster.pki import Pki, server_certificate
from tests.gitops.http_servers import serve_git
from tests.upstream import REPO_ROOT

CHURN, FRAUD = "acme/churn-model", "acme/fraud-model"  # owner/name; the deployed rules watch the first
FRAUD_SOURCE = REPO_ROOT / "tests" / "workflows" / "fraud_repo"
BRANCH = "main"


@dataclass(frozen=True)
class ServedRepository:
    name: str  # owner/name
    url: str  # https://10.244.0.1:PORT/acme/churn-model.git
    commit: str  # the branch's head when serving started
    bare: Path


@dataclass(frozen=True)
class CodeHost:
    clone_url_template: str  # https://10.244.0.1:PORT/{repo}.git, as listeners.webhooks.clone_urls takes it
    churn: ServedRepository
    fraud: ServedRepository


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        serve_git(self, self.server.project_root, remote_user=None)  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        serve_git(self, self.server.project_root, remote_user=None)  # type: ignore[attr-defined]


def _scaffold(work: Path) -> None:
    """The churn repository as ``mlops-gitops init ml-repo`` makes it, committed."""
    init = [sys.executable, "-m", "mlops_gitops", "init", "ml-repo", str(work)]
    subprocess.run(init, cwd=REPO_ROOT, check=True, capture_output=True)  # its Feast definitions: feature_repo/


def _fraud(work: Path) -> None:
    """The fraud team's repository, as the second-domain test has it, in a repository of its own."""
    shutil.copytree(FRAUD_SOURCE, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    git(work, "init", "--quiet", f"--initial-branch={BRANCH}")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "--message", "Fraud scoring")


def _serve(root: Path, name: str, template: str, make: Callable[[Path], None]) -> ServedRepository:
    work = root / "work" / name
    make(work)
    bare = root / f"{name}.git"
    git(root, "clone", "--quiet", "--bare", str(work), str(bare))
    return ServedRepository(name=name, url=template.format(repo=name), commit=git(bare, "rev-parse", BRANCH), bare=bare)


def push_change(repository: ServedRepository, work: Path, path: str, appended: str, message: str) -> Push:
    """Commit ``appended`` at the end of ``path`` in a clone, push it to the served repository, and describe the
    push (commits and changed paths, read back from the bare repository) as a webhook reports it."""
    git(work.parent, "clone", "--quiet", str(repository.bare), work.name)
    before = git(work, "rev-parse", "HEAD")
    changed = work / path
    changed.write_text(changed.read_text() + appended)
    git(work, "commit", "--quiet", "--all", "--message", message)
    git(work, "push", "--quiet", "origin", f"HEAD:{BRANCH}")
    after = git(work, "rev-parse", "HEAD")
    return describe_push(repository.bare, repository.name, f"refs/heads/{BRANCH}", before, after)


@contextmanager
def serving_code(pki: Pki, root: Path) -> Iterator[CodeHost]:
    """Serve the churn and fraud repositories over HTTPS on the node's address while the block runs."""
    root.mkdir(parents=True)
    certificate = server_certificate(pki, "code-host", NODE_IP)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    server = ThreadingHTTPServer((NODE_IP, 0), _Handler)
    server.project_root = root  # type: ignore[attr-defined]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    template = f"https://{NODE_IP}:{server.server_address[1]}/{{repo}}.git"
    code = CodeHost(
        clone_url_template=template,
        churn=_serve(root, CHURN, template, _scaffold),
        fraud=_serve(root, FRAUD, template, _fraud),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield code
    finally:
        server.shutdown()
        server.server_close()
