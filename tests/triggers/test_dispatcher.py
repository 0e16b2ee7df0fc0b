"""The dispatcher carries rules out durably: once per event, with retries, dead letters and replays."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import pytest

from core.errors import PermanentError
from core.gc_pauses import freeze_startup_heap
from tests.triggers.events import BOT_EMAIL, data_notice, push
from tests.triggers.harness import FAST, Harness, counting_commits
from tests.triggers.kinds import TEST_SPECS
from triggers.dispatcher import Dispatcher
from triggers.ledger import Ledger
from triggers.ledger.records import EventState
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import parse_rules

APPEND_ON_PUSH = """
triggers:
  - name: journal-push
    on: [git.push]
    filters: {branches: [main]}
    action: {kind: append, line: "{{ data.repo }}@{{ data.after }}"}
"""


def test_an_event_matching_no_rule_is_ignored_with_the_reason(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(sqlite_ledger, APPEND_ON_PUSH, tmp_path)
    on_branch = push(ref="refs/heads/feature/x")
    a_dataset = data_notice()
    sqlite_ledger.events.record_many([on_branch, a_dataset])
    harness.settle(on_branch.id, a_dataset.id, states=(EventState.IGNORED,))
    assert harness.record(on_branch.id).last_error == (
        "journal-push: ref 'refs/heads/feature/x' is not a branch matching filters.branches"
    )
    assert harness.record(a_dataset.id).last_error == "no rule listens to this event type"
    assert harness.append.lines() == []


def test_a_matching_event_is_done_with_its_rule_and_action_recorded(ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(ledger, APPEND_ON_PUSH, tmp_path)
    event = push()
    ledger.events.record(event)
    harness.settle(event.id)
    record = harness.record(event.id)
    assert record.matched_rules == ["journal-push"]
    (action,) = record.actions
    assert (action.action_key, action.kind, action.rule, action.status) == (
        f"journal-push:{event.id}",
        "append",
        "journal-push",
        "succeeded",
    )
    assert [line[:2] for line in harness.append.lines()] == [
        [action.action_key, f"acme/churn-model@{event.data.after}"]
    ]


def test_a_redelivered_event_starts_nothing(ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(ledger, APPEND_ON_PUSH, tmp_path)
    first = push(key="gh-delivery-42")
    ledger.events.record(first)
    harness.settle(first.id)
    redelivery = push(key="gh-delivery-42")
    assert ledger.events.record(redelivery).duplicate
    harness.dispatch_until(lambda: harness.dispatcher.run_once() == 0)
    assert len(harness.append.lines()) == 1
    assert harness.record(first.id).duplicates == 1
    assert ledger.reads.get(redelivery.id) is None


def test_the_bots_own_gitops_commit_starts_nothing(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(sqlite_ledger, APPEND_ON_PUSH, tmp_path)
    own = push(author_email=BOT_EMAIL, message="Promote churn-xgb version 4 to staging\n\nTrigger-Event-Id: e-1")
    sqlite_ledger.events.record(own)
    harness.settle(own.id, states=(EventState.IGNORED,))
    assert "own GitOps write-back" in (harness.record(own.id).last_error or "")
    assert harness.append.lines() == []


def test_a_failing_action_is_retried_then_dead_lettered_and_a_replay_runs_it_again(
    ledger: Ledger, tmp_path: Path
) -> None:
    harness = Harness.build(ledger, APPEND_ON_PUSH, tmp_path)
    (tmp_path / "broken").write_text("temporary")
    event = push()
    ledger.events.record(event)
    harness.settle(event.id, states=(EventState.DEAD_LETTERED,))
    dead = harness.record(event.id)
    assert dead.last_error == f"journal-push:{event.id}: gave up after 3 attempts: the journal is unavailable; retry"
    (action,) = dead.actions
    assert (action.status, action.state.attempts, action.state.last_error) == (
        "failed",
        3,
        "gave up after 3 attempts: the journal is unavailable; retry",
    )
    assert dead.matched_rules == ["journal-push"]
    assert harness.append.lines() == []

    (tmp_path / "broken").unlink()
    ledger.queue.replay(event.id)
    harness.settle(event.id)
    (line,) = harness.append.lines()
    assert line[0] == f"journal-push:{event.id}~1"
    replayed = harness.record(event.id)
    assert replayed.state == EventState.DONE
    assert [(a.action_key, a.status) for a in replayed.actions] == [
        (f"journal-push:{event.id}", "failed"),
        (f"journal-push:{event.id}~1", "succeeded"),
    ]


def test_a_permanent_error_dead_letters_at_once(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(sqlite_ledger, APPEND_ON_PUSH, tmp_path)
    (tmp_path / "broken").write_text("permanent")
    event = push()
    sqlite_ledger.events.record(event)
    harness.settle(event.id, states=(EventState.DEAD_LETTERED,))
    record = harness.record(event.id)
    assert record.last_error == f"journal-push:{event.id}: the journal refuses this line"
    assert [(a.status, a.state.attempts) for a in record.actions] == [("failed", 1)]


def test_a_template_naming_a_missing_field_dead_letters_the_event_naming_the_field(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    rules = """
triggers:
  - name: etl
    on: [data.arrived]
    action: {kind: append, line: "{{ data.partition_key }}"}
"""
    harness = Harness.build(sqlite_ledger, rules, tmp_path)
    event = data_notice()
    sqlite_ledger.events.record(event)
    harness.settle(event.id, states=(EventState.DEAD_LETTERED,))
    error = harness.record(event.id).last_error or ""
    assert "partition_key" in error and "trigger 'etl' action.line" in error
    assert harness.append.lines() == []


def test_one_failing_rule_does_not_hold_back_another(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    rules = """
triggers:
  - {name: good, on: [data.arrived], action: {kind: append, line: "{{ data.dataset }}"}}
  - {name: bad, on: [data.arrived], action: {kind: append, line: "{{ data.nope }}"}}
"""
    harness = Harness.build(sqlite_ledger, rules, tmp_path)
    event = data_notice()
    sqlite_ledger.events.record(event)
    harness.settle(event.id, states=(EventState.DEAD_LETTERED,))
    assert [line[0] for line in harness.append.lines()] == [f"good:{event.id}"]
    assert (harness.record(event.id).last_error or "").startswith(f"bad:{event.id}: template for trigger 'bad'")


def test_run_forever_dispatches_in_the_background_until_stopped(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(sqlite_ledger, APPEND_ON_PUSH, tmp_path)
    stop = threading.Event()
    worker = threading.Thread(target=harness.dispatcher.run_forever, args=(stop,), name="dispatcher")
    worker.start()
    try:
        event = push()
        sqlite_ledger.events.record(event)
        for _ in range(3000):
            if harness.state(event.id) == EventState.DONE:
                break
            time.sleep(0.01)
        assert harness.state(event.id) == EventState.DONE
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert len(harness.append.lines()) == 1


def test_the_dispatch_loop_first_freezes_the_heap_built_before_it(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(sqlite_ledger, APPEND_ON_PUSH, tmp_path)
    freeze_startup_heap.cache_clear()  # as in a fresh process, whatever an earlier test froze
    gc.unfreeze()
    stop = threading.Event()
    stop.set()
    harness.dispatcher.run_forever(stop)
    assert gc.get_freeze_count() > 0


def test_rules_naming_an_action_kind_nothing_performs_are_refused_at_start_up(sqlite_ledger: Ledger) -> None:
    engine = RulesEngine(parse_rules(APPEND_ON_PUSH, TEST_SPECS), bot_email=BOT_EMAIL)
    with pytest.raises(PermanentError, match="action kinds nothing here performs: append"):
        Dispatcher(sqlite_ledger, engine, {}, FAST)


def test_a_claimed_batch_stores_every_outcome_in_one_commit(ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(ledger, APPEND_ON_PUSH, tmp_path)
    pushes = [push() for _ in range(10)]
    notices = [data_notice() for _ in range(20)]
    ledger.events.record_many([*pushes, *notices])
    with counting_commits(ledger) as commits:
        assert harness.dispatcher.run_once() == 30
    assert [harness.state(e.id) for e in pushes] == [EventState.DONE] * 10
    assert [harness.state(e.id) for e in notices] == [EventState.IGNORED] * 20
    assert len(harness.append.lines()) == 10
    # the claim (with the read of the batch's recorded actions), and all 30 outcomes with their actions
    assert len(commits) == 2


@pytest.mark.parametrize("stored_by", ["this process", "another ledger connection"])
def test_an_event_stored_while_idle_wakes_the_dispatcher_before_its_next_poll(
    ledger: Ledger, tmp_path: Path, stored_by: str
) -> None:
    if stored_by == "another ledger connection" and ledger.database.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL carries the wake-up between processes; SQLite relies on the poll")
    sleepy = FAST.model_copy(update={"poll_interval_seconds": 3600})
    harness = Harness.build(ledger, APPEND_ON_PUSH, tmp_path, sleepy)
    writer = ledger if stored_by == "this process" else Ledger.open(ledger.database.engine.url.render_as_string(False))
    stop = threading.Event()
    worker = threading.Thread(target=harness.dispatcher.run_forever, args=(stop,), name="dispatcher")
    worker.start()
    try:
        time.sleep(0.5)  # let the dispatcher's first pass find nothing and go to sleep (and its listener start)
        event = push()
        writer.events.record(event)
        deadline = time.monotonic() + 120  # far below the hour it would otherwise sleep
        while harness.state(event.id) != EventState.DONE:
            assert time.monotonic() < deadline, "the dispatcher slept through the stored event"
            time.sleep(0.01)
    finally:
        stop.set()
        ledger.database.wakeup.notify()
        worker.join(timeout=30)
    assert not worker.is_alive()


def test_a_debounce_batch_acts_when_its_quiet_period_ends_not_at_the_next_poll(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    rules = """
triggers:
  - name: etl-on-data
    on: [data.arrived]
    debounce: {key: "{{ data.dataset }}", quiet_seconds: 0.3, max_wait_seconds: 60}
    action: {kind: append, line: "{{ data.dataset }} {{ events | length }}"}
"""
    sleepy = FAST.model_copy(update={"poll_interval_seconds": 3600})
    harness = Harness.build(sqlite_ledger, rules, tmp_path, sleepy)
    stop = threading.Event()
    worker = threading.Thread(target=harness.dispatcher.run_forever, args=(stop,), name="dispatcher")
    worker.start()
    try:
        time.sleep(0.5)  # let the dispatcher's first pass find nothing and go to sleep
        notice = data_notice()
        sqlite_ledger.events.record(notice)  # wakes it: the notice leads a batch, handed back for the quiet period
        deadline = time.monotonic() + 120  # far below the hour it would otherwise sleep
        while harness.state(notice.id) != EventState.DONE:
            assert time.monotonic() < deadline, "the dispatcher slept through the end of the quiet period"
            time.sleep(0.01)
    finally:
        stop.set()
        sqlite_ledger.database.wakeup.notify()
        worker.join(timeout=30)
    assert [line[1] for line in harness.append.lines()] == ["churn/customer_activity 1"]
