"""Two dispatcher processes sharing one PostgreSQL ledger process each event exactly once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.triggers.events import push
from triggers.ledger import Ledger
from triggers.ledger.records import EventState

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = 1_000


@pytest.mark.slow
def test_two_dispatcher_processes_on_one_postgresql_ledger_process_each_event_once(
    postgres_url: str, tmp_path: Path
) -> None:
    ledger = Ledger.open(postgres_url)
    journals = [tmp_path / f"journal-{n}.tsv" for n in (1, 2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.triggers.dispatch_worker", postgres_url, str(journal), str(EVENTS)],
            cwd=REPO_ROOT,
        )
        for journal in journals
    ]
    events = [push() for _ in range(EVENTS)]
    try:
        for start in range(0, EVENTS, 100):  # arrive while both dispatchers already poll
            ledger.events.record_many(events[start : start + 100])
        for worker in workers:
            assert worker.wait(timeout=600) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    performed = [line.split("\t") for journal in journals for line in journal.read_text().splitlines()]
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
