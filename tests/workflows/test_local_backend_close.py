"""Closing the local backend stops the child processes its flows started, before the service exits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


@pytest.mark.slow  # Prefect's API server takes most of a minute to come up on a busy machine
def test_closing_the_local_backend_stops_prefects_api_server(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.workflows.prefect_server_owner", str(tmp_path / "work")],
        cwd=_REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        server_pid = int(owner.stdout.readline())
        assert owner.stdout.readline().strip() == "closed"
        deadline = time.monotonic() + 60
        while _running(server_pid):
            assert time.monotonic() < deadline, "Prefect's API server outlived the backend's close()"
            time.sleep(0.05)
    finally:
        owner.kill()
        owner.wait()
