"""The status API over a real SQLite ledger: listing, detail, admin replay and dead letters."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from core.logging import redactor
from mlops_gitops.api.events import events_router
from triggers.event import DataArrival, Event, EventType
from triggers.ledger import Ledger
from triggers.ledger.store import ActionState

TOKEN = "status-api-admin-token"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")


def client(ledger: Ledger, token: str | None = TOKEN) -> TestClient:
    app = FastAPI()
    app.include_router(events_router(ledger, SecretStr(token) if token else None))
    return TestClient(app)


def arrival(key: str) -> Event:
    return Event(
        source="s3/landing",
        type=EventType.DATA_ARRIVED,
        subject="landing/churn",
        data=DataArrival(dataset="landing/churn"),
        idempotency_key=key,
    )


def test_events_are_listed_by_state_and_shown_with_their_actions(ledger: Ledger) -> None:
    done, waiting = ledger.record(arrival("a")), ledger.record(arrival("b"))
    ledger.record_action(
        done.event_id,
        action_key="r:a",
        kind="workflow",
        rule="r",
        target="data-etl-1",
        status="succeeded",
        detail={"outputs": {"etl": {"rows_written": 10}}},
    )
    [claimed] = [c for c in ledger.claim_due(limit=2) if c.event.id == done.event_id]
    ledger.mark_done(claimed.event.id, matched_rules=["r"])
    api = client(ledger)

    listed = api.get("/events", params={"status": "done"}).json()
    assert [e["event"]["id"] for e in listed] == [done.event_id]
    shown = api.get(f"/events/{done.event_id}").json()
    assert shown["matched_rules"] == ["r"]
    assert shown["actions"][0]["target"] == "data-etl-1"
    assert shown["actions"][0]["detail"]["outputs"]["etl"]["rows_written"] == 10
    assert api.get(f"/events/{waiting.event_id}").json()["state"] == "dispatched"
    assert api.get("/events/no-such-event").status_code == 404
    assert api.get("/events", params={"status": "bogus"}).status_code == 422


def test_replay_needs_the_admin_token_and_requeues(ledger: Ledger) -> None:
    stored = ledger.record(arrival("c"))
    ledger.claim_due()
    ledger.mark_dead(stored.event_id, "gave up")

    assert client(ledger, token=None).post(f"/events/{stored.event_id}/replay").status_code == 403
    api = client(ledger)
    assert api.post(f"/events/{stored.event_id}/replay").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert api.post(f"/events/{stored.event_id}/replay", headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert api.post("/events/missing/replay", headers=right).status_code == 404
    answer = api.post(f"/events/{stored.event_id}/replay", headers=right)
    assert answer.status_code == 202 and answer.json()["state"] == "received"
    assert api.get(f"/events/{stored.event_id}").json()["state"] == "received"


def test_dead_letters_need_the_token_and_secrets_are_masked(ledger: Ledger) -> None:
    secret = "hunter2-webhook-secret"
    redactor.add([secret])
    ledger.dead_letter(
        origin="kafka", origin_key="kafka:t:0:1", reason=f"bad signature with {secret}", payload=b"{not json"
    )
    stored = ledger.record(arrival("d"))
    ledger.record_action(
        stored.event_id,
        action_key="r:d",
        kind="workflow",
        target="x",
        status="failed",
        detail={"token": "abc", "message": f"auth {secret}"},
    )
    api = client(ledger)
    assert api.get("/dead-letters").status_code == 401
    [letter] = api.get("/dead-letters", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert letter["origin_key"] == "kafka:t:0:1" and secret not in letter["reason"]
    detail = api.get(f"/events/{stored.event_id}").json()["actions"][0]["detail"]
    assert detail["token"] == "***" and secret not in detail["message"]


def test_an_event_shows_which_action_failed_and_why_with_secrets_masked(ledger: Ledger) -> None:
    secret = "hunter3-argo-token"
    redactor.add([secret])
    stored = ledger.record(arrival("e"))
    for key, status, error in (
        ("notify:e", "failed", f"gave up after 3 attempts: 401 for {secret}"),
        ("etl:e", "succeeded", None),
    ):
        ledger.record_action(
            stored.event_id,
            action_key=key,
            kind="workflow",
            status=status,
            state=ActionState(attempts=3 if error else 1, last_error=error),
        )
    actions = {a["action_key"]: a for a in client(ledger).get(f"/events/{stored.event_id}").json()["actions"]}
    assert actions["notify:e"]["status"] == "failed"
    assert actions["notify:e"]["state"]["attempts"] == 3
    assert actions["notify:e"]["state"]["last_error"] == "gave up after 3 attempts: 401 for ***"
    assert actions["etl:e"]["state"]["last_error"] is None
