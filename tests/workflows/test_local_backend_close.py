"""Closing the local backend stops the child processes its flows started, before the service exits, and leaves
Prefect's log shipping to the next server its flows start."""

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


_FLOW_THEN_CLOSE = """
import sys
from concurrent.futures import ThreadPoolExecutor
from prefect import flow, get_run_logger
from workflows.local import LocalBackend
from workflows.settings import LocalSettings

@flow
def chatty() -> None:
    for line in range(50):
        get_run_logger().info("line %d", line)

for _ in range(2):  # a second backend's flows start the server again, as after a restart of the service
    backend = LocalBackend(LocalSettings(work_dir=sys.argv[1]), code_repos=())
    with ThreadPoolExecutor(1) as runs:  # as the backend runs its flows: off the thread that closes it
        runs.submit(chatty).result()
    backend.close()
"""


@pytest.mark.slow  # Prefect's API server takes most of a minute to come up on a busy machine
def test_flows_after_a_close_log_to_the_server_they_started(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FLOW_THEN_CLOSE, str(tmp_path / "work")],
        cwd=_REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "Error logging to API" not in done.stderr
