"""``mlops-gitops events``: which action failed and why, and replaying that one action alone."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlops_gitops.cli import app
from triggers.event import DataArrival, Event, EventType
from triggers.ledger import EventState, Ledger
from triggers.ledger.action_log import ActionWrite
from triggers.ledger.dispatch_queue import EventOutcome
from triggers.ledger.records import ActionState


def test_a_failed_action_is_shown_with_its_error_and_replayed_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = tmp_path / "config.yaml"
    config.write_text(f"ledger:\n  url: {url}\n")
    ledger = Ledger.open(url)
    event = Event(
        source="s3/landing",
        type=EventType.DATA_ARRIVED,
        subject="landing/churn",
        data=DataArrival(dataset="landing/churn"),
        idempotency_key="cli-1",
    )
    ledger.events.record(event)
    ledger.queue.claim_due()
    ledger.actions.record(event.id, ActionWrite("etl:1", "workflow", "etl", "etl-1", "succeeded", {}))
    ledger.actions.record(
        event.id,
        ActionWrite(
            "notify:1",
            "workflow",
            "notify",
            "notify-1",
            "failed",
            {},
            ActionState(attempts=5, last_error="gave up after 5 attempts: 503 from the Argo Server"),
        ),
    )
    ledger.queue.finish([EventOutcome.dead(event.id, "notify:1: gave up after 5 attempts: 503 from the Argo Server")])
    runner = CliRunner()

    listed = runner.invoke(app, ["events", "list", "--config", str(config)], env={"COLUMNS": "400"})
    assert listed.exit_code == 0, listed.output
    assert "(failed): gave up after 5 attempts" in listed.output
    shown = json.loads(runner.invoke(app, ["events", "show", event.id, "--config", str(config)]).output)
    notify = next(a for a in shown["actions"] if a["action_key"] == "notify:1")
    assert (notify["attempts"], notify["last_error"]) == (5, "gave up after 5 attempts: 503 from the Argo Server")

    replayed = runner.invoke(app, ["events", "replay", event.id, "--action", "notify:1", "--config", str(config)])
    assert replayed.exit_code == 0, replayed.output
    assert "to run notify:1 again" in replayed.output
    record = ledger.reads.get(event.id)
    assert record is not None and record.state == EventState.RECEIVED and record.replays == 0
    states = {a.action_key: (a.status, a.state.replays, a.state.attempts) for a in record.actions}
    assert states == {"etl:1": ("succeeded", 0, 0), "notify:1": ("queued", 1, 0)}
