"""Long runs and partial failures, with hours of dispatch compressed by a clock the test moves.

The dispatcher, its ledger and the Argo backend are the service's own, in this
process; the Argo backend talks HTTP to the Argo Server stand-in, and the
push comes in through the listeners' intake as a signed GitHub delivery. Only
time is the test's: a manual clock handed to the ledger and the dispatcher,
so a six-hour training run is 360 status checks a minute apart that take
seconds of wall time. The test plays Argo's workflow controller (the run's
phase) and injects the failures.

* A six-hour run whose status cannot be read 20 times, scattered over its life
  (5xx answers and time-outs, never as many in a row as the budget allows):
  the run is followed to its end and its follow-up runs, once.
* Two rules on one push, one of whose workflows fails for good: that rule's
  action fails alone, while the other rule's workflow and its follow-up run to
  completion; the event is dead-lettered only then, naming the failed action.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.devstack.senders import github_headers
from listeners.intake import Intake
from listeners.sources.base import Delivery
from reliability.scoreboard import ScenarioFigures
from tests.clock import ManualClock
from tests.listeners.conftest import GITHUB_SECRET, listener_settings
from tests.service.test_crash_recovery import TOKEN, push_payload
from tests.workflows.argo_server import FakeArgoServer, Fault
from triggers.actions.registry import ACTION_SPECS
from triggers.actions.workflow import WorkflowPipelineAction
from triggers.dispatcher import Dispatcher
from triggers.ledger import EventState, Ledger
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import compile_rules
from triggers.settings import DispatcherSettings
from workflows.factory import make_backend
from workflows.pipelines.context import PIPELINE_LABEL
from workflows.settings import WorkflowSettings

NAMESPACE = "mlops"
POLL_SECONDS = 60.0
SIX_HOURS_OF_POLLS = 6 * 60
POLL_FAILURES_IN_A_ROW = 3
REQUEST_TIMEOUT_SECONDS = 0.5
SETTINGS = DispatcherSettings(
    run_poll_seconds=POLL_SECONDS, status_poll_failures=POLL_FAILURES_IN_A_ROW, action_retries=2
)
BOT_EMAIL = "mlops-gitops-bot@users.noreply.local"

RETRAIN = {
    "kind": "workflow",
    "pipeline": "retrain",
    "params": {"repo_url": "{{ data.clone_url }}", "commit": "{{ data.after }}", "model_name": "churn-xgb"},
}
FEATURE_APPLY = {
    "kind": "workflow",
    "pipeline": "feature-apply",
    "params": {"repo_url": "{{ data.clone_url }}", "commit": "{{ data.after }}"},
}
ETL = {
    "kind": "workflow",
    "pipeline": "data-etl",
    "params": {"source_uri": "s3://raw/churn", "partitions": ["date=2026-12-06"]},
}

LONG_TRAINING = [
    {
        "name": "train",
        "on": ["git.push"],
        "timeout_seconds": 8 * 3600,
        "action": RETRAIN,
        "then": [{"action": FEATURE_APPLY}],
    }
]
TWO_RULES = [
    {"name": "train", "on": ["git.push"], "action": RETRAIN, "then": [{"action": FEATURE_APPLY}]},
    {"name": "etl", "on": ["git.push"], "action": ETL},
]


@dataclass
class Stack:
    """One dispatcher on a clock the test moves, the Argo Server stand-in it submits to, and the intake."""

    clock: ManualClock
    ledger: Ledger
    argo: FakeArgoServer
    dispatcher: Dispatcher
    intake: Intake

    def push(self) -> str:
        body = push_payload()
        headers = {name.lower(): value for name, value in github_headers(body, GITHUB_SECRET).items()}
        events = self.intake.admit(Delivery("github", headers, body, "github:fallback"))
        assert isinstance(events, list)
        [recorded] = self.intake.record("github", events)
        return recorded.event_id

    def poll(self) -> None:
        """A status check's worth of time passes and the dispatcher takes one pass over the event."""
        self.clock.advance(POLL_SECONDS)
        assert self.dispatcher.run_once() == 1

    def run_of(self, event_id: str, action_key: str) -> str:
        record = self.ledger.reads.get(event_id)
        assert record is not None
        (action,) = [a for a in record.actions if a.action_key == action_key]
        return action.target

    def finish(self, run: str, phase: str) -> None:
        """Play the workflow controller: the run ends in ``phase``."""
        self.argo.set_status(NAMESPACE, run, {"phase": phase, "finishedAt": "2026-12-07T06:00:00Z"})

    def pipelines_created(self) -> list[str]:
        return sorted(w["metadata"]["labels"][PIPELINE_LABEL] for w in self.argo.workflows.values())


def build_stack(tmp_path: Path, argo: FakeArgoServer, triggers: list[dict[str, Any]]) -> Stack:
    clock = ManualClock()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock)
    workflows = WorkflowSettings.model_validate(
        {
            "backend": "argo",
            "argo": {
                "server_url": argo.url,
                "token": TOKEN,
                "namespace": NAMESPACE,
                "request_timeout_seconds": REQUEST_TIMEOUT_SECONDS,
                "feast_project": "churn",
            },
            "code_repos": ["https://github.com/acme/churn-model.git"],
        }
    )
    kind = WorkflowPipelineAction(make_backend(workflows))
    engine = RulesEngine(compile_rules({"version": 1, "triggers": triggers}, ACTION_SPECS), bot_email=BOT_EMAIL)
    dispatcher = Dispatcher(ledger, engine, {kind.kind: kind}, SETTINGS)
    return Stack(clock, ledger, argo, dispatcher, Intake(listener_settings(), ledger, channel="http"))


@pytest.fixture
def running_argo() -> Iterator[FakeArgoServer]:
    """The Argo Server stand-in whose workflows run until the test ends them."""
    server = FakeArgoServer(TOKEN).start()
    server.status_on_create = {"phase": "Running"}
    yield server
    server.stop()


def scattered_failures() -> dict[int, Fault]:
    """20 unreadable status checks over 360, in pairs 35 checks apart: never 3 in a row; every fifth a time-out."""
    polls = [p for n in range(10) for p in (n * 35 + 5, n * 35 + 6)]
    return {
        poll: Fault(delay_seconds=REQUEST_TIMEOUT_SECONDS * 3) if i % 5 == 4 else Fault((502, 503, 504)[i % 3])
        for i, poll in enumerate(polls)
    }


@pytest.mark.slow
def test_a_six_hour_run_survives_20_scattered_status_check_failures(
    tmp_path: Path, running_argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    stack = build_stack(tmp_path, running_argo, LONG_TRAINING)
    event_id = stack.push()
    figures.events_sent = 1
    assert stack.dispatcher.run_once() == 1
    train = f"train:{event_id}"
    run = stack.run_of(event_id, train)

    failures = scattered_failures()
    for poll in range(SIX_HOURS_OF_POLLS):
        if poll in failures:
            running_argo.faults.append(failures[poll])
        stack.poll()
        record = stack.ledger.reads.get(event_id)
        assert record is not None
        (action,) = record.actions
        assert action.status == "running", action.state.last_error
        assert action.state.poll_failures == (0 if poll not in failures else 1 if poll - 1 not in failures else 2)
    hours = SIX_HOURS_OF_POLLS * POLL_SECONDS / 3600
    figures.fault(f"{len(failures)} of {SIX_HOURS_OF_POLLS} status checks over {hours:g} h unreadable (5xx, time-outs)")
    assert not running_argo.faults

    stack.finish(run, "Succeeded")
    stack.poll()  # the run is seen to succeed and its follow-up is submitted
    follow_up = stack.run_of(event_id, f"{train}/then-1")
    stack.finish(follow_up, "Succeeded")
    stack.poll()

    done = stack.ledger.reads.get(event_id)
    assert done is not None
    created = stack.pipelines_created()
    figures.lost = int(done.state is not EventState.DONE)
    figures.duplicated = max(0, running_argo.create_requests - 2)
    assert done.state is EventState.DONE, done.last_error
    assert {a.action_key: (a.status, a.state.attempts) for a in done.actions} == {
        train: ("succeeded", 1),
        f"{train}/then-1": ("succeeded", 1),
    }
    assert (created, running_argo.create_requests) == (["feature-apply", "retrain"], 2)


@pytest.mark.slow
def test_one_rule_failing_for_good_leaves_the_other_rules_workflow_and_follow_up_to_complete(
    tmp_path: Path, running_argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    stack = build_stack(tmp_path, running_argo, TWO_RULES)
    event_id = stack.push()
    figures.events_sent = 1
    assert stack.dispatcher.run_once() == 1
    train, etl = f"train:{event_id}", f"etl:{event_id}"
    training_run, etl_run = stack.run_of(event_id, train), stack.run_of(event_id, etl)

    stack.finish(etl_run, "Failed")
    figures.fault(f"workflow {etl_run} of rule 'etl' failed")
    stack.poll()
    record = stack.ledger.reads.get(event_id)
    assert record is not None
    assert record.state is EventState.RECEIVED  # the training run goes on
    assert {a.action_key: a.status for a in record.actions} == {train: "running", etl: "failed"}

    for _ in range(3):  # the training run keeps being followed
        stack.poll()
    stack.finish(training_run, "Succeeded")
    stack.poll()
    follow_up = stack.run_of(event_id, f"{train}/then-1")
    stack.finish(follow_up, "Succeeded")
    stack.poll()

    dead = stack.ledger.reads.get(event_id)
    assert dead is not None
    figures.lost = int({a.action_key: a.status for a in dead.actions}.get(f"{train}/then-1") != "succeeded")
    figures.duplicated = max(0, running_argo.create_requests - 3)
    assert dead.state is EventState.DEAD_LETTERED  # no rule can move any more, and one failed
    assert dead.last_error is not None and dead.last_error.startswith(f"{etl}: ")
    assert {a.action_key: a.status for a in dead.actions} == {
        train: "succeeded",
        f"{train}/then-1": "succeeded",
        etl: "failed",
    }
    assert (stack.pipelines_created(), running_argo.create_requests) == (["data-etl", "feature-apply", "retrain"], 3)
