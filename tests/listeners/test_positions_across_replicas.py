"""Two replicas on one PostgreSQL never derive alias moves from a table the other is about to save."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from triggers.event import EventType, ModelChange
from triggers.ledger import Ledger

_REPO_ROOT = Path(__file__).resolve().parents[2]


def replica(ledger_url: str, version: str, signals: Path, *, hold: bool = False) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.listeners.positions_worker", ledger_url, version, str(signals)]
    return subprocess.Popen([*command, *(["--hold"] if hold else [])], cwd=_REPO_ROOT)


def wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the replica exited with {process.returncode} before {path.name}"
        assert time.monotonic() < deadline, f"no {path.name}"
        time.sleep(0.02)


def test_a_move_seen_while_another_replica_holds_the_table_follows_that_replicas_move(
    postgres_url: str, tmp_path: Path
) -> None:
    ledger = Ledger.open(postgres_url)
    first = replica(postgres_url, "2", tmp_path, hold=True)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(tmp_path / "2.recorded", first)  # the first replica recorded champion -> 2, its table not yet saved
        second = replica(postgres_url, "3", tmp_path)
        wait_for(tmp_path / "3.entering", second)
        with suppress(subprocess.TimeoutExpired):  # it must wait for the first replica: give it time to run ahead
            second.wait(timeout=5)
        (tmp_path / "go").touch()
        assert first.wait(timeout=120) == 0
        assert second.wait(timeout=120) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
    moves = [
        record.event for record in ledger.reads.list_events() if record.event.type is EventType.MODEL_ALIAS_CHANGED
    ]
    by_version = {}
    for event in moves:
        assert isinstance(event.data, ModelChange)
        by_version[event.data.version] = (event.data.previous_version, event.idempotency_key)
    assert by_version == {
        "2": (None, "mlflow:alias:churn:champion:1:2"),
        "3": ("2", "mlflow:alias:churn:champion:2:3"),
    }
    assert ledger.cursors.get("mlflow-model:churn") == {
        "aliases": {"champion": {"version": "3", "previous": "2", "move": 2}},
        "stages": {},
    }
