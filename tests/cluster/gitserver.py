"""The GitOps repository as Argo CD and the service meet it: a bare repo served by ``git daemon`` on the node.

The repository is the one ``mlops-gitops gitops init`` makes, with the run's service config (the URL below, the
run's apiserver as destination, no HPA), pushed into a bare repo. ``git daemon`` serves it over git's own
protocol to Argo CD's repo-server (fetch) and to the service's GitOps writer (push: ``receive-pack`` is on, as
a git host lets the bot push), all at the same ``git://`` URL: the service writes from the host and, at the end
of level 4, from its own pod. So it listens on the node's bridge address, which the host and the run's pods
reach and nothing outside does; git's protocol has no authentication, and the daemon lives as long as the run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.kube import wait_for
from tests.cluster.network import NODE_IP
from tests.cluster.ports import free_port
from tests.cluster.processes import Supervisor

REPO_NAME = "gitops.git"
BRANCH = "main"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class GitServer:
    url: str  # git://10.244.0.1:PORT/gitops.git
    bare: Path


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def start_git_daemon(supervisor: Supervisor, root: Path) -> GitServer:
    """An empty bare repo under ``root``, served read-write; the URL answers once the daemon is up."""
    bare = root / REPO_NAME
    _git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(bare))
    port = free_port()
    supervisor.start(
        "git-daemon",
        [
            "git", "daemon", f"--listen={NODE_IP}", f"--port={port}", f"--base-path={root}", "--export-all",
            "--enable=receive-pack", "--reuseaddr", "--informative-errors", str(root),
        ],
    )  # fmt: skip
    url = f"git://{NODE_IP}:{port}/{REPO_NAME}"

    def answers() -> bool | None:
        supervisor.check_alive()
        _git("ls-remote", url)
        return True

    wait_for(f"git daemon at {url}", answers, START_TIMEOUT)
    return GitServer(url=url, bare=bare)


def push_initial(repository: Path, server: GitServer) -> str:
    """Push the scaffolded repository's branch to the served repo; returns the pushed commit."""
    _git("-C", str(repository), "push", "--quiet", server.url, f"{BRANCH}:{BRANCH}")
    return _git("--git-dir", str(server.bare), "rev-parse", BRANCH).strip()
