"""Local run records: a run is alive while its owner holds its lease, whatever PID the service has now."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflows.backend import RunPhase
from workflows.local.records import RunRecord, RunRecords


class Seconds:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Seconds:
    return Seconds()


@pytest.fixture
def records(tmp_path: Path, clock: Seconds) -> Iterator[RunRecords]:
    opened = RunRecords(tmp_path / "runs", heartbeat_seconds=3600, lease_seconds=60, clock=clock)
    yield opened
    opened.close()


def run(name: str) -> RunRecord:
    return RunRecord(name=name, pipeline="retrain", params={})


def test_a_run_left_by_an_earlier_start_with_the_same_pid_is_orphaned_once_its_lease_runs_out(
    tmp_path: Path, records: RunRecords, clock: Seconds
) -> None:
    before_restart = RunRecords(tmp_path / "runs", heartbeat_seconds=3600, lease_seconds=60)
    assert before_restart.create(run("retrain-1"))
    before_restart.update("retrain-1", phase=RunPhase.RUNNING, message="running")
    before_restart.close()  # the service restarted: in a container it is PID 1 again, here the same test process
    assert before_restart.read("retrain-1").pid == os.getpid()

    assert records.status("retrain-1").phase == RunPhase.RUNNING  # its lease still runs
    clock.now += 61
    status = records.status("retrain-1")
    assert status.phase == RunPhase.ERROR
    assert status.message.startswith("orphaned: the process that ran it")


def test_another_owner_that_renews_its_lease_keeps_its_run_alive(
    tmp_path: Path, records: RunRecords, clock: Seconds
) -> None:
    other = RunRecords(tmp_path / "runs", heartbeat_seconds=0.01, lease_seconds=60)
    try:
        assert other.create(run("etl-1"))
        other.update("etl-1", phase=RunPhase.RUNNING)
        path = tmp_path / "runs" / "etl-1.json"
        os.utime(path, (0, 0))  # long silent, until the owner's next heartbeat
        deadline = time.monotonic() + 30
        while path.stat().st_mtime == 0:
            assert time.monotonic() < deadline, "the owner never renewed its lease"
            time.sleep(0.01)
        clock.now = time.time()
        assert records.status("etl-1").phase == RunPhase.RUNNING
    finally:
        other.close()


def test_own_runs_are_alive_until_they_record_an_outcome(records: RunRecords, clock: Seconds) -> None:
    assert records.create(run("etl-2"))
    clock.now += 3600  # no heartbeat needed for the owner's own runs
    assert records.status("etl-2").phase == RunPhase.PENDING
    records.update("etl-2", phase=RunPhase.SUCCEEDED, message="all steps succeeded")
    assert records.status("etl-2").phase == RunPhase.SUCCEEDED
    assert not records.create(run("etl-2"))


def test_the_owner_never_reads_a_run_finishing_beside_it_as_one_that_ended_without_an_outcome(
    records: RunRecords,
) -> None:
    """``status`` racing the final ``update`` of each of many runs: every answer is Running or Succeeded."""
    seen: list[RunPhase] = []
    names = [f"retrain-{i}" for i in range(300)]
    for name in names:
        assert records.create(run(name))
        records.update(name, phase=RunPhase.RUNNING)
    finisher = threading.Thread(target=lambda: [records.update(n, phase=RunPhase.SUCCEEDED) for n in names])
    finisher.start()
    while finisher.is_alive():
        seen.extend(records.status(name).phase for name in names)
    finisher.join()

    assert set(seen) <= {RunPhase.RUNNING, RunPhase.SUCCEEDED}
    assert {records.status(name).phase for name in names} == {RunPhase.SUCCEEDED}
