"""Signature edge cases for every signed source, sent through the real webhook app.

Each case starts from a correctly signed delivery (built the way the sender
signs, :mod:`devtools.devstack.senders`) and breaks one thing. The
answer must be a 4xx refusal that stores nothing, never a 5xx and never an
acceptance.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from devtools.devstack.senders import (
    databricks_headers,
    gitea_headers,
    github_headers,
    gitlab_headers,
    mlflow_headers,
    standard_webhooks_headers,
)
from listeners.http.app import create_app
from listeners.settings import ListenerSettings
from reliability.scoreboard import ScenarioFigures
from reliability.sources_under_test import CASES
from tests.listeners.conftest import (
    DATA_WHSEC,
    DATABRICKS_SECRET,
    GITEA_SECRET,
    GITHUB_SECRET,
    GITLAB_TOKEN,
    MLFLOW_SECRET,
    listener_settings,
)
from triggers.ledger import Ledger


def body_of(source: str) -> bytes:
    """The first (push / version created / plain JSON notice) payload of ``source``; a signed timestamp in it is
    taken now, as its sender would, so a long suite run never makes it stale."""
    payload = next(case.payload for case in CASES if case.source == source)
    if "event_timestamp" in payload:
        payload = {**payload, "event_timestamp": int(time.time() * 1000)}
    return json.dumps(payload).encode()


SIGNED: dict[str, tuple[str, Callable[[bytes], dict[str, str]]]] = {
    "github": ("X-Hub-Signature-256", lambda body: github_headers(body, GITHUB_SECRET)),
    "gitlab": ("X-Gitlab-Token", lambda _body: gitlab_headers(GITLAB_TOKEN)),
    "gitea": ("X-Gitea-Signature", lambda body: gitea_headers(body, GITEA_SECRET)),
    "mlflow": ("X-MLflow-Signature", lambda body: mlflow_headers(body, MLFLOW_SECRET)),
    "databricks": ("X-Databricks-Signature", lambda body: databricks_headers(body, DATABRICKS_SECRET)),
    "data": ("webhook-signature", lambda body: standard_webhooks_headers(body, DATA_WHSEC)),
}


BREAKAGES: dict[str, Callable[[str], str | None]] = {
    "missing header": lambda _value: None,
    "empty header": lambda _value: "",
    "wrong scheme prefix": lambda value: "sha1=" + value.split("=", 1)[-1] if "=" in value else "v2," + value,
    "truncated": lambda value: value[: len(value) // 2],
    "odd length": lambda value: value[:-1],
    "one character changed": lambda value: value[:-2] + ("0" if value[-2] != "0" else "1") + value[-1],
    "non-ascii": lambda value: value[:-1] + "é",
    "padded with spaces inside": lambda value: value[:4] + " " + value[4:],
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Ledger]]:
    ledger = Ledger.open(f"sqlite:///{tmp_path_factory.mktemp('edges') / 'ledger.db'}")
    with TestClient(create_app(listener_settings(), ledger)) as test_client:
        yield test_client, ledger
    ledger.close()


def _post(client: TestClient, source: str, body: bytes, headers: dict[str, str]) -> int:
    status: int = client.post(f"/webhooks/{source}", content=body, headers=headers).status_code
    return status


@pytest.mark.parametrize("source", sorted(SIGNED))
def test_a_correct_signature_is_accepted(source: str, client: tuple[TestClient, Ledger]) -> None:
    _, sign = SIGNED[source]
    body = body_of(source)
    assert _post(client[0], source, body, sign(body)) in (200, 202)


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
@pytest.mark.parametrize("source", sorted(SIGNED))
def test_a_broken_signature_is_refused(
    source: str, breakage: str, client: tuple[TestClient, Ledger], figures: ScenarioFigures
) -> None:
    figures.fault(f"{source}: {breakage}")
    test_client, ledger = client
    name, sign = SIGNED[source]
    body = body_of(source)
    headers = sign(body)
    broken = BREAKAGES[breakage](headers[name])
    if broken is None:
        del headers[name]
    else:
        headers[name] = broken
    before = len(ledger.reads.list_events(limit=1000))
    try:
        status = _post(test_client, source, body, headers)
    except UnicodeEncodeError:
        status = 400  # the HTTP client itself cannot put a non-latin-1 header on the wire
    figures.events_sent += 1
    figures.server_errors += status >= 500
    assert 400 <= status < 500
    assert len(ledger.reads.list_events(limit=1000)) == before


@pytest.mark.parametrize("skew_seconds", [-3600, 3600, 10**12])
@pytest.mark.parametrize("source", ["mlflow", "data"])
def test_stale_or_future_timestamps_are_refused(
    source: str, skew_seconds: int, client: tuple[TestClient, Ledger], figures: ScenarioFigures
) -> None:
    figures.fault(f"{source}: timestamp {skew_seconds:+d} s")
    body = body_of(source)
    if source == "mlflow":
        headers = mlflow_headers(body, MLFLOW_SECRET, timestamp=int(time.time()) + skew_seconds)
    else:
        headers = standard_webhooks_headers(body, DATA_WHSEC)
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + skew_seconds)
    figures.events_sent += 1
    assert _post(client[0], source, body, headers) == 401


@pytest.mark.parametrize("source", sorted(SIGNED))
def test_a_replayed_delivery_is_recorded_once(
    source: str, client: tuple[TestClient, Ledger], figures: ScenarioFigures
) -> None:
    """The very same signed delivery sent again (inside the freshness window) is a duplicate, not a new event."""
    figures.fault(f"{source}: the same signed delivery sent three times")
    test_client, ledger = client
    body = json.dumps({**json.loads(body_of(source)), "id": f"replay-{source}"}).encode()
    headers = SIGNED[source][1](body)
    answers = [test_client.post(f"/webhooks/{source}", content=body, headers=headers) for _ in range(3)]
    figures.events_sent += 3
    first_ids = answers[0].json()["event_ids"]
    assert answers[0].status_code in (200, 202)
    for again in answers[1:]:
        assert again.status_code == 200 and again.json() == {"duplicate": True, "event_ids": first_ids}
    first = ledger.reads.get(first_ids[0])
    assert first is not None
    stored = [r for r in ledger.reads.list_events(limit=1000) if r.event.idempotency_key == first.event.idempotency_key]
    figures.duplicated += len(stored) - 1
    # Registry events are keyed by model and version, so an earlier test's delivery may already be that event.
    assert len(stored) == 1 and stored[0].duplicates >= 2


def test_an_empty_secret_cannot_be_configured(figures: ScenarioFigures) -> None:
    """Anyone can compute an HMAC with an empty key, so an empty secret is refused at start-up."""
    figures.fault("empty secret in every source's settings")
    for source in SIGNED:
        figures.events_sent += 1
        with pytest.raises(ValidationError):
            ListenerSettings.model_validate({"webhooks": {source: {"secrets": [""]}}})
        with pytest.raises(ValidationError):
            ListenerSettings.model_validate({"webhooks": {source: {"per_repo": {"team/churn": [""]}}}})


def test_bodies_over_the_limit_are_413(client: tuple[TestClient, Ledger], figures: ScenarioFigures) -> None:
    figures.fault("bodies one byte over and far over the limit, declared and chunked")
    limit = listener_settings().webhooks.max_body_bytes
    test_client, _ = client
    for size in (limit + 1, limit * 8):
        body = b"{" + b" " * (size - 2) + b"}"
        headers = github_headers(body, GITHUB_SECRET)
        figures.events_sent += 2
        assert test_client.post("/webhooks/github", content=body, headers=headers).status_code == 413
        chunked = test_client.post("/webhooks/github", content=iter([body[:limit], body[limit:]]), headers=headers)
        assert chunked.status_code == 413


@pytest.mark.parametrize("depth", [300, 5_000, 20_000])
@pytest.mark.parametrize("source", sorted(SIGNED))
def test_deeply_nested_json_is_400(
    source: str, depth: int, client: tuple[TestClient, Ledger], figures: ScenarioFigures
) -> None:
    figures.fault(f"{source}: JSON nested {depth} deep")
    body = b'{"a":' * depth + b"1" + b"}" * depth
    if len(body) > listener_settings().webhooks.max_body_bytes:
        body = b"[" * depth + b"]" * depth
    figures.events_sent += 1
    assert _post(client[0], source, body, SIGNED[source][1](body)) == 400
