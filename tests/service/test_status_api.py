"""The status API over a real SQLite ledger: tokens per role, summaries, payloads, bounded answers, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from core.logging import redactor
from listeners.http.app import create_app
from mlops_gitops.api.auth import BearerTokens
from mlops_gitops.api.docs import docs_router
from mlops_gitops.api.events import events_router
from mlops_gitops.cli import app as cli
from tests.listeners.conftest import listener_settings
from triggers.event import Commit, DataArrival, Event, EventType, PushData
from triggers.ledger import Ledger
from triggers.ledger.action_log import ActionWrite
from triggers.ledger.dispatch_queue import EventOutcome
from triggers.ledger.records import ActionState

TOKEN = "status-api-admin-token-0123456789"
READERS = ("status-api-read-token-old-0123456", "status-api-read-token-new-0123456")
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
READ = {"Authorization": f"Bearer {READERS[0]}"}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")


def client(
    ledger: Ledger, token: str | None = TOKEN, readers: tuple[str, ...] = READERS, max_response_bytes: int = 1 << 20
) -> TestClient:
    app = FastAPI()
    tokens = BearerTokens(read=[SecretStr(r) for r in readers], admin=[SecretStr(token)] if token else [])
    app.include_router(events_router(ledger, tokens, max_response_bytes=max_response_bytes))
    return TestClient(app)


def push(key: str, message_bytes: int) -> Event:
    commit = Commit(id="a" * 40, message="m" * message_bytes, author_email="dev@example.com")
    data = PushData(host="github", repo="acme/model", ref="refs/heads/main", before="0" * 40, after="a" * 40)
    return Event(
        source="github/acme/model",
        type=EventType.GIT_PUSH,
        subject="refs/heads/main",
        data=data.model_copy(update={"commits": (commit,)}),
        idempotency_key=key,
    )


def arrival(key: str) -> Event:
    return Event(
        source="s3/landing",
        type=EventType.DATA_ARRIVED,
        subject="landing/churn",
        data=DataArrival(dataset="landing/churn"),
        idempotency_key=key,
    )


def test_events_are_listed_by_state_and_shown_with_their_actions(ledger: Ledger) -> None:
    done, waiting = ledger.events.record(arrival("a")), ledger.events.record(arrival("b"))
    ledger.actions.record(
        done.event_id,
        ActionWrite("r:a", "workflow", "r", "data-etl-1", "succeeded", {"outputs": {"etl": {"rows_written": 10}}}),
    )
    [claimed] = [c for c in ledger.queue.claim_due(limit=2) if c.event.id == done.event_id]
    ledger.queue.finish([EventOutcome.done(claimed.event.id, ["r"])])
    api = client(ledger)
    api.headers.update(READ)

    listed = api.get("/events", params={"status": "done"}).json()
    assert [e["id"] for e in listed["events"]] == [done.event_id] and listed["next_offset"] is None
    shown = api.get(f"/events/{done.event_id}").json()
    assert shown["matched_rules"] == ["r"]
    assert shown["actions"][0]["target"] == "data-etl-1"
    assert shown["actions"][0]["detail"]["outputs"]["etl"]["rows_written"] == 10
    assert api.get(f"/events/{waiting.event_id}").json()["state"] == "dispatched"
    assert api.get("/events/no-such-event").status_code == 404
    assert api.get("/events", params={"status": "bogus"}).status_code == 422


def test_replay_needs_the_admin_token_and_requeues(ledger: Ledger) -> None:
    stored = ledger.events.record(arrival("c"))
    ledger.queue.claim_due()
    ledger.queue.finish([EventOutcome.dead(stored.event_id, "gave up")])

    assert client(ledger, token=None).post(f"/events/{stored.event_id}/replay", headers=READ).status_code == 403
    api = client(ledger)
    assert api.post(f"/events/{stored.event_id}/replay").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert api.post(f"/events/{stored.event_id}/replay", headers=wrong).status_code == 401
    assert api.post(f"/events/{stored.event_id}/replay", headers=READ).status_code == 401
    assert api.post("/events/missing/replay", headers=ADMIN).status_code == 404
    answer = api.post(f"/events/{stored.event_id}/replay", headers=ADMIN)
    assert answer.status_code == 202 and answer.json()["state"] == "received"
    assert api.get(f"/events/{stored.event_id}", headers=ADMIN).json()["state"] == "received"


def test_dead_letters_need_the_token_and_secrets_are_masked(ledger: Ledger) -> None:
    secret = "hunter2-webhook-secret"
    redactor.add([secret])
    ledger.events.dead_letter(
        origin="kafka", origin_key="kafka:t:0:1", reason=f"bad signature with {secret}", payload=b"{not json"
    )
    stored = ledger.events.record(arrival("d"))
    ledger.actions.record(
        stored.event_id,
        ActionWrite("r:d", "workflow", "", "x", "failed", {"token": "abc", "message": f"auth {secret}"}),
    )
    api = client(ledger)
    assert api.get("/dead-letters").status_code == 401
    assert api.get("/dead-letters", headers=READ).status_code == 401
    [letter] = api.get("/dead-letters", headers=ADMIN).json()["dead_letters"]
    assert letter["origin_key"] == "kafka:t:0:1" and secret not in letter["reason"]
    detail = api.get(f"/events/{stored.event_id}", headers=READ).json()["actions"][0]["detail"]
    assert detail["token"] == "***" and secret not in detail["message"]


def test_reads_need_a_read_or_admin_token_and_either_rotated_token_works(ledger: Ledger) -> None:
    stored = ledger.events.record(arrival("e"))
    tokens = BearerTokens(read=[SecretStr(r) for r in READERS], admin=[SecretStr(TOKEN)])
    app = create_app(
        listener_settings(),
        ledger,
        extra_routers=[events_router(ledger, tokens, max_response_bytes=1 << 20), docs_router(tokens)],
    )
    reads = ["/events", f"/events/{stored.event_id}", f"/events/{stored.event_id}/payload", "/docs", "/openapi.json"]
    with TestClient(app) as api:
        for path in reads:
            for refused in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
                assert api.get(path, headers=refused).status_code == 401, (path, refused)
            for token in (*READERS, TOKEN):
                assert api.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200, path
        page = api.get("/docs", headers=READ).text
        assert '"spec"' in page and "/events/{event_id}/payload" in page  # the description travels inside the page
        assert "/webhooks/{source}" in api.get("/openapi.json", headers=READ).json()["paths"]


def test_reads_are_refused_when_no_token_is_configured(ledger: Ledger) -> None:
    api = client(ledger, token=None, readers=())
    assert api.get("/events", headers=READ).status_code == 403
    assert "server.read_tokens" in api.get("/events").json()["detail"]


def test_the_list_holds_summaries_and_the_payload_comes_one_event_at_a_time(ledger: Ledger) -> None:
    stored = ledger.events.record(push("p", message_bytes=1000))
    api = client(ledger)
    api.headers.update(READ)
    [summary] = api.get("/events").json()["events"]
    assert summary["id"] == stored.event_id and summary["subject"] == "refs/heads/main"
    assert "data" not in summary and "dev@example.com" not in str(summary)
    assert "data" not in api.get(f"/events/{stored.event_id}").json()
    payload = api.get(f"/events/{stored.event_id}/payload").json()
    assert payload["data"]["commits"][0]["author_email"] == "dev@example.com"
    assert api.get("/events/missing/payload").status_code == 404


def test_no_answer_exceeds_the_configured_size(ledger: Ledger) -> None:
    budget = 64 * 1024
    small = [ledger.events.record(arrival(f"s{n}")).event_id for n in range(300)]
    big = ledger.events.record(push("big", message_bytes=2 * budget)).event_id
    api = client(ledger, max_response_bytes=budget)
    api.headers.update(READ)

    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        answer = api.get("/events", params={"limit": 1000, "offset": offset})
        assert answer.status_code == 200 and len(answer.content) <= budget
        page = answer.json()
        seen += [e["id"] for e in page["events"]]
        offset = page["next_offset"]
    assert sorted(seen) == sorted([*small, big]), "paging by next_offset reaches every event once"
    assert len(api.get(f"/events/{big}").content) <= budget
    refused = api.get(f"/events/{big}/payload")
    assert refused.status_code == 413 and "server.max_response_bytes" in refused.json()["detail"]
    assert api.get(f"/events/{small[0]}/payload").status_code == 200


def test_an_event_shows_which_action_failed_and_why_with_secrets_masked(ledger: Ledger) -> None:
    secret = "hunter3-argo-token"
    redactor.add([secret])
    stored = ledger.events.record(arrival("e"))
    for key, status, error in (
        ("notify:e", "failed", f"gave up after 3 attempts: 401 for {secret}"),
        ("etl:e", "succeeded", None),
    ):
        ledger.actions.record(
            stored.event_id,
            ActionWrite(key, "workflow", "", "", status, {}, ActionState(attempts=3 if error else 1, last_error=error)),
        )
    api = client(ledger)
    api.headers.update(READ)
    actions = {a["action_key"]: a for a in api.get(f"/events/{stored.event_id}").json()["actions"]}
    assert actions["notify:e"]["status"] == "failed"
    assert actions["notify:e"]["state"]["attempts"] == 3
    assert actions["notify:e"]["state"]["last_error"] == "gave up after 3 attempts: 401 for ***"
    assert actions["etl:e"]["state"]["last_error"] is None


def test_dead_letters_are_summaries_paged_under_the_configured_size(ledger: Ledger) -> None:
    budget = 16 * 1024
    poison = b'{"secret": "' + b"p" * (2 * budget) + b'"}'
    for n in range(300):
        ledger.events.dead_letter(origin="kafka", origin_key=f"kafka:t:0:{n}", reason="not JSON", payload=poison)
    api = client(ledger, max_response_bytes=budget)
    api.headers.update(ADMIN)

    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        pages += 1
        answer = api.get("/dead-letters", params={"limit": 1000, "offset": offset})
        assert answer.status_code == 200 and len(answer.content) <= budget
        page = answer.json()
        assert all(d["payload_bytes"] == len(poison) and "payload" not in d for d in page["dead_letters"])
        seen += [d["origin_key"] for d in page["dead_letters"]]
        offset = page["next_offset"]
    assert pages > 1, "the summaries alone outgrow one answer"
    assert seen == [f"kafka:t:0:{n}" for n in reversed(range(300))], "newest first, each once"


def test_one_dead_letter_is_read_with_its_payload_unless_it_is_too_large(ledger: Ledger) -> None:
    budget = 16 * 1024
    secret = "hunter3-broker-password"
    redactor.add([secret])
    ledger.events.dead_letter(origin="kafka", origin_key="kafka:t:0:1", reason="too big", payload=b"p" * (2 * budget))
    ledger.events.dead_letter(
        origin="kafka", origin_key="kafka:t:0:2", reason="not JSON", payload=b"\xff{" + secret.encode()
    )
    api = client(ledger, max_response_bytes=budget)
    big, small = (d["id"] for d in reversed(api.get("/dead-letters", headers=ADMIN).json()["dead_letters"]))

    assert api.get(f"/dead-letters/{small}", headers=READ).status_code == 401
    letter = api.get(f"/dead-letters/{small}", headers=ADMIN).json()
    assert letter["origin_key"] == "kafka:t:0:2" and letter["payload"].startswith("\ufffd{")
    assert secret not in letter["payload"]
    refused = api.get(f"/dead-letters/{big}", headers=ADMIN)
    assert refused.status_code == 413 and "events dead-letter" in refused.json()["detail"]
    assert api.get("/dead-letters/999999", headers=ADMIN).status_code == 404
    for beyond_any_row in ("0", str(2**63)):  # the database cannot hold such an id: refused before it is asked
        assert api.get(f"/dead-letters/{beyond_any_row}", headers=ADMIN).status_code == 422


def test_the_cli_lists_dead_letters_by_payload_size_and_pages_with_offset(tmp_path: Path, ledger: Ledger) -> None:
    poison = b"\xff" + b"q" * 100_000
    for n in range(3):
        ledger.events.dead_letter(origin="kafka", origin_key=f"kafka:t:0:{n}", reason="not JSON", payload=poison)
    config = tmp_path / "config.yaml"
    config.write_text(f"ledger:\n  url: sqlite:///{tmp_path / 'ledger.db'}\n")

    result = CliRunner().invoke(cli, ["events", "dead-letters", "--config", str(config), "--json", "--offset", "1"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [d["origin_key"] for d in listed] == ["kafka:t:0:1", "kafka:t:0:0"]
    assert all(d["payload_bytes"] == len(poison) and "payload" not in d for d in listed)
    assert "qqqq" not in result.output

    shown = CliRunner().invoke(cli, ["events", "dead-letter", str(listed[0]["id"]), "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["payload"] == poison.decode("utf-8", "replace")
    missing = CliRunner().invoke(cli, ["events", "dead-letter", "999999", "--config", str(config)])
    assert missing.exit_code == 1
