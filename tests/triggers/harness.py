"""A dispatcher on a real ledger with file-backed action kinds, driven pass by pass."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event as sqlalchemy_event

from tests.triggers.events import BOT_EMAIL
from tests.triggers.kinds import TEST_SPECS, AppendAction, FileJobAction
from triggers.dispatcher import Dispatcher
from triggers.ledger import Ledger
from triggers.ledger.records import EventRecord, EventState
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import parse_rules
from triggers.settings import DispatcherSettings

FAST = DispatcherSettings(
    batch_size=100,
    max_attempts=3,
    action_retries=2,
    backoff_initial_seconds=0.01,
    backoff_max_seconds=0.05,
    run_poll_seconds=0.02,
    queue_poll_seconds=0.02,
    poll_interval_seconds=0.02,
)


@contextmanager
def counting_commits(ledger: Ledger) -> Iterator[list[str]]:
    """The ledger's commits while the block runs, one entry each: how many transactions a pass took."""
    commits: list[str] = []

    def count(_connection: object) -> None:
        commits.append("COMMIT")

    sqlalchemy_event.listen(ledger.database.engine, "commit", count)
    try:
        yield commits
    finally:
        sqlalchemy_event.remove(ledger.database.engine, "commit", count)


# Only a safety net so a broken dispatcher fails the test instead of hanging it.
_GIVE_UP_AFTER_SECONDS = 60.0


@dataclass
class Harness:
    ledger: Ledger
    dispatcher: Dispatcher
    append: AppendAction
    jobs: FileJobAction

    @classmethod
    def build(cls, ledger: Ledger, rules_yaml: str, tmp_path: Path, settings: DispatcherSettings = FAST) -> Harness:
        jobs_dir = tmp_path / "jobs"
        jobs_dir.mkdir(exist_ok=True)
        append = AppendAction(tmp_path / "journal.tsv", broken_flag=tmp_path / "broken")
        jobs = FileJobAction(jobs_dir)
        engine = RulesEngine(parse_rules(rules_yaml, TEST_SPECS), bot_email=BOT_EMAIL)
        dispatcher = Dispatcher(ledger, engine, {append.kind: append, jobs.kind: jobs}, settings)
        return cls(ledger, dispatcher, append, jobs)

    def state(self, event_id: str) -> EventState:
        return self.record(event_id).state

    def record(self, event_id: str) -> EventRecord:
        found = self.ledger.reads.get(event_id)
        assert found is not None
        return found

    def dispatch_until(self, done: Callable[[], bool]) -> None:
        """Run dispatcher passes until ``done()`` holds (events deferred or backing off need real time)."""
        deadline = time.monotonic() + _GIVE_UP_AFTER_SECONDS
        while not done():
            assert time.monotonic() < deadline, "the dispatcher never reached the expected state"
            if self.dispatcher.run_once() == 0:
                time.sleep(0.01)

    def settle(self, *event_ids: str, states: tuple[EventState, ...] = (EventState.DONE,)) -> None:
        self.dispatch_until(lambda: all(self.state(e) in states for e in event_ids))
