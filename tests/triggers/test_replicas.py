"""Two dispatcher processes sharing one PostgreSQL ledger process each event exactly once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.triggers.events import data_notice, push
from triggers.event import Event
from triggers.ledger import Ledger
from triggers.ledger.records import EventState

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = 1_000


def dispatched_by_two_processes(ledger: Ledger, url: str, events: list[Event], tmp_path: Path) -> list[list[str]]:
    """Store ``events`` in deliveries of 100 while two dispatcher processes poll; the lines they journaled."""
    journals = [tmp_path / f"journal-{n}.tsv" for n in (1, 2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.triggers.dispatch_worker", url, str(journal), str(len(events))],
            cwd=REPO_ROOT,
        )
        for journal in journals
    ]
    try:
        for start in range(0, len(events), 100):  # arrive while both dispatchers already poll
            ledger.events.record_many(events[start : start + 100])
        for worker in workers:
            assert worker.wait(timeout=600) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    return [line.split("\t") for journal in journals if journal.exists() for line in journal.read_text().splitlines()]


@pytest.mark.slow
def test_two_dispatcher_processes_on_one_postgresql_ledger_process_each_event_once(
    postgres_url: str, tmp_path: Path
) -> None:
    ledger = Ledger.open(postgres_url)
    events = [push() for _ in range(EVENTS)]
    performed = dispatched_by_two_processes(ledger, postgres_url, events, tmp_path)
    per_event = Counter(line[1] for line in performed)
    assert per_event == Counter({e.id: 1 for e in events})
    per_process = Counter(line[2] for line in performed)
    assert len(per_process) == 2, f"both processes should have taken work: {per_process}"
    assert ledger.reads.count_by_state() == {EventState.DONE.value: EVENTS}
    with ledger.database.engine.connect() as connection:
        rows = connection.execute(text("SELECT attempts, count(*) FROM events GROUP BY attempts"))
        attempts = {claims: count for claims, count in rows}
    assert attempts == {1: EVENTS}, "an event was claimed more than once"
    ledger.close()


@pytest.mark.slow
def test_two_dispatcher_processes_joining_the_same_debounce_batches_act_for_each_notice_once(
    postgres_url: str, tmp_path: Path
) -> None:
    ledger = Ledger.open(postgres_url)
    notices = [data_notice(dataset=f"churn/set-{i % 5}", partition=f"date={i}") for i in range(EVENTS)]
    performed = dispatched_by_two_processes(ledger, postgres_url, notices, tmp_path)

    acted_for = Counter(event_id for line in performed for event_id in line[1].split(","))
    assert acted_for == Counter({e.id: 1 for e in notices}), "a notice was lost, or acted for in two batches"
    assert ledger.reads.count_by_state() == {EventState.DONE.value: EVENTS}
    ledger.close()
