"""Each action keeps its own budgets: one rule's failure leaves the others running, a long run survives blips.

Time is a manual clock handed to the ledger and the dispatcher, so hours of a run pass without sleeping.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import PermanentError
from tests.clock import ManualClock
from tests.triggers.events import push
from tests.triggers.harness import FAST, Harness
from triggers.ledger import Ledger
from triggers.ledger.records import ActionRecord, EventState

RUN_POLL_SECONDS = 60.0
SETTINGS = FAST.model_copy(update={"run_poll_seconds": RUN_POLL_SECONDS, "status_poll_failures": 3})

RETRAIN_AND_NOTIFY = """
triggers:
  - name: retrain
    on: [git.push]
    action: {kind: file-job, params: {commit: "{{ data.after }}"}}
    then:
      - action: {kind: append, line: "promote {{ data.after }}"}
  - name: notify
    on: [git.push]
    retries: 0
    action: {kind: append, line: "notify {{ data.after }}"}
"""

LONG_TRAINING = """
triggers:
  - name: train
    on: [git.push]
    timeout_seconds: 28800
    action: {kind: file-job}
    then:
      - action: {kind: append, line: "register {{ data.after }}"}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(tmp_path: Path, clock: ManualClock) -> Ledger:
    return Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock)


def actions(harness: Harness, event_id: str) -> dict[str, ActionRecord]:
    return {a.action_key: a for a in harness.record(event_id).actions}


def poll_once(harness: Harness, clock: ManualClock) -> None:
    clock.advance(RUN_POLL_SECONDS)
    assert harness.dispatcher.run_once() == 1


def test_one_rule_failing_for_good_leaves_the_other_rules_run_and_follow_up_to_finish(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    harness = Harness.build(ledger, RETRAIN_AND_NOTIFY, tmp_path, SETTINGS)
    (tmp_path / "broken").write_text("permanent")  # every append refuses its line for now
    event = push()
    ledger.events.record(event)
    assert harness.dispatcher.run_once() == 1
    notify, retrain = f"notify:{event.id}", f"retrain:{event.id}"
    assert harness.state(event.id) == EventState.RECEIVED  # retrain's run goes on
    assert {k: a.status for k, a in actions(harness, event.id).items()} == {retrain: "running", notify: "failed"}
    assert actions(harness, event.id)[notify].state.last_error == "the journal refuses this line"

    (tmp_path / "broken").unlink()
    (job,) = harness.jobs.submitted()
    harness.jobs.finish(job)
    poll_once(harness, clock)
    assert [line[1] for line in harness.append.lines()] == [f"promote {event.data.after}"]  # type: ignore[union-attr]
    dead = harness.record(event.id)
    assert dead.state == EventState.DEAD_LETTERED  # no rule can move any more, and one failed
    assert dead.last_error == f"{notify}: the journal refuses this line"
    assert {a.action_key: a.status for a in dead.actions} == {
        retrain: "succeeded",
        f"{retrain}/then-1": "succeeded",
        notify: "failed",
    }

    ledger.queue.replay(event.id, action_key=notify)
    assert harness.dispatcher.run_once() == 1
    assert harness.state(event.id) == EventState.DONE
    assert sorted(line[0] for line in harness.append.lines()) == [f"{notify}~r1", f"{retrain}/then-1"]
    assert len(harness.jobs.submitted()) == 1  # the workflow that succeeded was not run again
    replayed = actions(harness, event.id)[notify]
    assert (replayed.status, replayed.state.replays, replayed.state.attempts) == ("succeeded", 1, 1)


def test_only_a_failed_action_is_replayed_alone(ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(ledger, RETRAIN_AND_NOTIFY, tmp_path, SETTINGS)
    event = push()
    ledger.events.record(event)
    harness.dispatcher.run_once()
    with pytest.raises(PermanentError, match="is running; only a failed action is replayed alone"):
        ledger.queue.replay(event.id, action_key=f"retrain:{event.id}")
    with pytest.raises(PermanentError, match="has no action"):
        ledger.queue.replay(event.id, action_key="retrain:another-event")


def test_a_six_hour_run_survives_20_scattered_status_check_failures(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    harness = Harness.build(ledger, LONG_TRAINING, tmp_path, SETTINGS)
    event = push()
    ledger.events.record(event)
    harness.dispatcher.run_once()
    key = f"train:{event.id}"
    polls = int(6 * 3600 / RUN_POLL_SECONDS)
    failing = {p for n in range(10) for p in (n * 35 + 5, n * 35 + 6)}  # 20 failures, in pairs: fewer than 3 in a row
    for poll in range(polls):
        harness.jobs.status_reachable(poll not in failing)
        poll_once(harness, clock)
        action = actions(harness, event.id)[key]
        assert action.status == "running", action.state.last_error
        if poll in failing:
            assert action.state.poll_failures == (1 if poll - 1 not in failing else 2)
            assert action.state.last_error == "workflow status unavailable (503 Service Unavailable)"
        else:
            assert (action.state.poll_failures, action.state.last_error) == (0, None)
    assert len(failing) == 20

    harness.jobs.status_reachable(True)
    (job,) = harness.jobs.submitted()
    harness.jobs.finish(job)
    poll_once(harness, clock)
    done = harness.record(event.id)
    assert done.state == EventState.DONE
    train = actions(harness, event.id)[key]
    assert (train.status, train.state.attempts) == ("succeeded", 1)
    assert [line[1] for line in harness.append.lines()] == [f"register {event.data.after}"]  # type: ignore[union-attr]


def test_status_checks_failing_too_often_in_a_row_fail_that_action(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    harness = Harness.build(ledger, LONG_TRAINING, tmp_path, SETTINGS)
    event = push()
    ledger.events.record(event)
    harness.dispatcher.run_once()
    harness.jobs.status_reachable(False)
    for _ in range(3):
        poll_once(harness, clock)
    dead = harness.record(event.id)
    assert dead.state == EventState.DEAD_LETTERED
    (train,) = dead.actions
    assert train.status == "failed" and train.state.poll_failures == 2
    assert train.state.last_error is not None
    assert "unreadable 3 times in a row: workflow status unavailable" in train.state.last_error


def test_a_run_past_its_rules_timeout_is_cancelled_and_fails(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    harness = Harness.build(ledger, LONG_TRAINING, tmp_path, SETTINGS)
    event = push()
    ledger.events.record(event)
    harness.dispatcher.run_once()
    (train,) = harness.record(event.id).actions
    assert train.state.started_at == clock.now
    assert train.state.deadline_at is not None and (train.state.deadline_at - clock.now).total_seconds() == 28800
    clock.advance(28800)
    assert harness.dispatcher.run_once() == 1
    dead = harness.record(event.id)
    assert dead.state == EventState.DEAD_LETTERED
    (train,) = dead.actions
    assert train.status == "failed" and train.detail["timed_out"] is True
    assert harness.jobs.cancelled == [train.target]
    assert dead.last_error is not None and "still running at its deadline" in dead.last_error
    assert dead.last_error.endswith("; cancelled")


def test_a_temporary_failure_waits_out_its_backoff_on_the_action_and_spends_the_rules_retries(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    rules = """
triggers:
  - {name: patient, on: [git.push], retries: 2, action: {kind: append, line: "patient"}}
  - {name: eager, on: [git.push], retries: 0, action: {kind: append, line: "eager"}}
"""
    harness = Harness.build(ledger, rules, tmp_path, SETTINGS)
    (tmp_path / "broken").write_text("temporary")
    event = push()
    ledger.events.record(event)
    harness.dispatcher.run_once()
    patient, eager = actions(harness, event.id)[f"patient:{event.id}"], actions(harness, event.id)[f"eager:{event.id}"]
    assert (eager.status, eager.state.attempts) == ("failed", 1)
    assert eager.state.last_error == "gave up after 1 attempts: the journal is unavailable; retry"
    assert (patient.status, patient.state.attempts) == ("retrying", 1)
    assert patient.state.next_attempt_at is not None and patient.state.next_attempt_at > clock.now
    assert patient.state.last_error == "the journal is unavailable; retry"
    assert harness.record(event.id).next_attempt_at == patient.state.next_attempt_at

    (tmp_path / "broken").unlink()
    clock.advance(1)
    assert harness.dispatcher.run_once() == 1
    done = harness.record(event.id)
    assert done.state == EventState.DEAD_LETTERED and done.last_error is not None
    assert done.last_error.startswith(f"eager:{event.id}: gave up after 1 attempts")
    assert [line[1] for line in harness.append.lines()] == ["patient"]
    assert actions(harness, event.id)[f"patient:{event.id}"].state.attempts == 2


def test_an_error_that_says_when_to_come_back_is_retried_then_not_by_backoff(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    harness = Harness.build(ledger, RETRAIN_AND_NOTIFY.replace("retries: 0", "retries: 3"), tmp_path, SETTINGS)
    (tmp_path / "broken").write_text("temporary 90")
    event = push()
    ledger.events.record(event)
    harness.dispatcher.run_once()
    notify = actions(harness, event.id)[f"notify:{event.id}"]
    assert notify.status == "retrying"
    assert notify.state.next_attempt_at == clock.now + timedelta(seconds=90)
    (tmp_path / "broken").unlink()
    clock.advance(89)
    harness.dispatcher.run_once()  # retrain's run is checked; notify's time has not come
    assert actions(harness, event.id)[f"notify:{event.id}"].state.attempts == 1
    clock.advance(1)
    harness.dispatcher.run_once()
    assert actions(harness, event.id)[f"notify:{event.id}"].status == "succeeded"
