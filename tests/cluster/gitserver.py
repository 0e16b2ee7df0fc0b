"""The GitOps repository as Argo CD and the service meet it: a bare repo served by ``git daemon`` on loopback.

The repository is the one ``mlops-gitops gitops init`` makes, with the run's service config (the URL below, the
run's apiserver as destination, no HPA), pushed into a bare repo. ``git daemon`` serves it over git's own
protocol to Argo CD's repo-server (fetch) and to the service's GitOps writer (push: ``receive-pack`` is on, as
a git host lets the bot push), both at the same ``git://`` URL. git's protocol has no authentication, which is
why it listens on loopback only and lives as long as the run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.kube import wait_for
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor

REPO_NAME = "gitops.git"
BRANCH = "main"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class GitServer:
    url: str  # git://127.0.0.1:PORT/gitops.git
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
            "git", "daemon", f"--listen={LOOPBACK}", f"--port={port}", f"--base-path={root}", "--export-all",
            "--enable=receive-pack", "--reuseaddr", "--informative-errors", str(root),
        ],
    )  # fmt: skip
    url = f"git://{LOOPBACK}:{port}/{REPO_NAME}"

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
