"""On SQLite a lease commits without waiting for the disk, and still outlives a killed dispatcher.

Only the claim (``DispatchQueue.claim_due``) is a lease; every other write stays durable. These tests read the
pragmas each kind of transaction runs under on a real SQLite file, and kill a real process right after its claim.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, text

from triggers.event import DataArrival, Event, EventType
from triggers.ledger import EventState, Ledger
from triggers.ledger.schema import EventRow

FULL, NORMAL = 2, 1
"""What ``PRAGMA synchronous`` answers for each."""

CLAIM_THEN_DIE = """
import os, signal, sys
from triggers.ledger import Ledger
ledger = Ledger.open(sys.argv[1])
claimed = ledger.queue.claim_due(limit=10, owner="killed-dispatcher")
print(len(claimed), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def notice(key: str) -> Event:
    return Event(
        source="kafka/data-arrivals",
        type=EventType.DATA_ARRIVED,
        subject="churn/events",
        data=DataArrival(dataset="churn/events", key=f"churn/events/part-{key}.parquet"),
        idempotency_key=key,
    )


def pragmas(ledger: Ledger, lease: bool) -> tuple[int, int]:
    """``synchronous`` and ``wal_autocheckpoint`` as a write transaction of that kind runs under them."""
    with ledger.database.leasing() if lease else ledger.database.transaction() as s:
        synchronous = s.execute(text("PRAGMA synchronous")).scalar_one()
        autocheckpoint = s.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
    return synchronous, autocheckpoint


def test_a_lease_skips_the_fsync_and_the_checkpoint_and_every_other_write_keeps_both(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        # alternating, as a dispatcher's claims and outcomes do on the same pooled connections
        for _ in range(2):
            assert pragmas(ledger, lease=True) == (NORMAL, 0)
            assert pragmas(ledger, lease=False) == (FULL, 1000)
    finally:
        ledger.close()


def test_a_lease_keeps_the_configured_policy_of_a_ledger_that_never_waits_for_the_disk(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", sqlite_synchronous="NORMAL")
    try:
        assert pragmas(ledger, lease=False) == (NORMAL, 1000)
        assert pragmas(ledger, lease=True) == (NORMAL, 0)
    finally:
        ledger.close()


def test_a_lease_outlives_the_dispatcher_killed_right_after_its_claim(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger.open(url)
    try:
        stored = [ledger.events.record(notice(f"k{i}")).event_id for i in range(3)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        died = subprocess.run(
            [sys.executable, "-c", CLAIM_THEN_DIE, url],
            check=False,  # it is meant to die
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert died.stdout.strip() == "3"

        assert ledger.queue.claim_due(limit=10) == []  # the dead dispatcher's lease still holds them
        with ledger.database.reading() as s:
            rows = s.execute(select(EventRow.id, EventRow.state, EventRow.lease_owner, EventRow.attempts)).all()
        assert sorted(rows) == sorted((i, EventState.DISPATCHED.value, "killed-dispatcher", 1) for i in stored)
    finally:
        ledger.close()
