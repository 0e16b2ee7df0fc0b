"""Secure defaults of the running service: no unsigned webhooks by accident, tokens required, no secret shown.

``serve`` with webhook sources open but no secrets must refuse to start,
naming each source's setting, unless ``--insecure-dev`` is given: then it
starts, warns loudly, and accepts unsigned deliveries on the open sources only.

The service runs as a real process with a webhook secret, an Argo token, a
read token and an admin token configured, and its log written to a file. A
push whose commit message quotes all four secrets, refused deliveries
carrying them as signatures, and calls to the status and admin endpoints
without, with a wrong and with the right token must leave no secret in the
log, in ``/events`` or in any error answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from devtools.devstack.senders import github_headers
from devtools.devstack.service_process import ServiceProcess
from listeners.http.app import create_app
from mlops_gitops.api.auth import BearerTokens
from mlops_gitops.api.events import events_router
from reliability.scoreboard import ScenarioFigures
from tests.listeners.conftest import listener_settings
from tests.service.test_crash_recovery import SECRET, TOKEN, push_payload, wait_for_state, write_config
from tests.workflows.argo_server import FakeArgoServer
from triggers.ledger import EventState, Ledger

ADMIN_TOKEN = "reliability-admin-token-7f3a"
READ_TOKEN = "reliability-read-token-51c9e"
SECRETS = (SECRET, TOKEN, ADMIN_TOKEN, READ_TOKEN)
OPEN_WITHOUT_SECRETS = ["github", "gitea"]


def unsigned_push() -> tuple[bytes, dict[str, str]]:
    return push_payload(), {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "u-1"}


@pytest.mark.slow
def test_webhook_sources_without_secrets_refuse_to_start_unless_insecure_dev(
    tmp_path: Path, argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    config, _ = write_config(tmp_path, argo.url)
    settings = yaml.safe_load(config.read_text())
    settings["listeners"]["webhooks"] = {"sources": OPEN_WITHOUT_SECRETS}
    config.write_text(yaml.safe_dump(settings))

    figures.fault(f"serve with webhook sources {OPEN_WITHOUT_SECRETS} open and no secrets")
    refused = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    named = [line.split(":")[0].strip() for line in refused.stderr.splitlines() if line.startswith("  ")]
    assert named == [f"listeners.webhooks.{source}.secrets" for source in OPEN_WITHOUT_SECRETS]

    figures.fault("serve --insecure-dev with the same config")
    log = tmp_path / "insecure.log"
    service = ServiceProcess.start(config, log, args=("--insecure-dev",))
    try:
        body, headers = unsigned_push()
        answers = [
            httpx.post(f"{service.url}/webhooks/github", content=body, headers=headers),
            httpx.post(f"{service.url}/webhooks/gitlab", content=body, headers=headers),
        ]
    finally:
        service.stop()
    figures.events_sent = len(answers)
    figures.server_errors = sum(a.status_code >= 500 for a in answers)
    assert [a.status_code for a in answers] == [202, 404]
    [warning] = [json.loads(line) for line in log.read_text().splitlines() if "INSECURE" in line]
    assert (warning["level"], warning["sources"]) == ("warning", OPEN_WITHOUT_SECRETS)


def test_admin_endpoints_are_closed_without_a_configured_token(tmp_path: Path, figures: ScenarioFigures) -> None:
    figures.fault("admin calls to a service with no admin token configured")
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    app = create_app(
        listener_settings(), ledger, extra_routers=[events_router(ledger, BearerTokens(), max_response_bytes=1 << 20)]
    )
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            figures.events_sent += 2
            assert client.post("/events/any/replay", headers=headers).status_code == 403
            assert client.get("/dead-letters", headers=headers).status_code == 403
    ledger.close()


@pytest.mark.slow
def test_admin_token_required_and_secrets_redacted(
    tmp_path: Path, argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    config, ledger_url = write_config(tmp_path, argo.url)
    settings = yaml.safe_load(config.read_text())
    settings["server"] = {"admin_tokens": [ADMIN_TOKEN], "read_tokens": [READ_TOKEN]}
    settings["logging"] = {"level": "DEBUG", "json_format": True}
    config.write_text(yaml.safe_dump(settings))
    log = tmp_path / "service.log"
    service = ServiceProcess.start(config, log)
    ledger = Ledger.open(ledger_url)
    answers: list[httpx.Response] = []
    try:
        payload = json.loads(push_payload())
        payload["commits"][0]["message"] = "leaked: " + " ".join(SECRETS)
        body = json.dumps(payload).encode()
        accepted = httpx.post(f"{service.url}/webhooks/github", content=body, headers=github_headers(body, SECRET))
        assert accepted.status_code == 202, accepted.text
        [event_id] = accepted.json()["event_ids"]
        wait_for_state(ledger, event_id, EventState.DONE)

        for secret in SECRETS:
            forged = {**github_headers(body, SECRET), "X-Hub-Signature-256": secret}
            answers.append(httpx.post(f"{service.url}/webhooks/github", content=body, headers=forged))
            figures.fault("a secret sent as the signature")
        for token in (None, "wrong-token", SECRET, TOKEN):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            replay = httpx.post(f"{service.url}/events/{event_id}/replay", headers=headers)
            dead_letters = httpx.get(f"{service.url}/dead-letters", headers=headers)
            assert replay.status_code == dead_letters.status_code == 401
            answers += [replay, dead_letters]
            for path in ("/events", f"/events/{event_id}", f"/events/{event_id}/payload", "/docs", "/openapi.json"):
                answers.append(httpx.get(f"{service.url}{path}", headers=headers))
                assert answers[-1].status_code == 401, path
        replay = httpx.post(
            f"{service.url}/events/{event_id}/replay", headers={"Authorization": f"Bearer {READ_TOKEN}"}
        )
        assert replay.status_code == 401, "a read token does not replay"
        answers.append(replay)
        figures.fault("admin and status calls without a token, with a wrong one and with other secrets")
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert httpx.post(f"{service.url}/events/{event_id}/replay", headers=admin).status_code == 202
        assert httpx.get(f"{service.url}/dead-letters", headers=admin).status_code == 200
        reader = {"Authorization": f"Bearer {READ_TOKEN}"}
        answers += [
            httpx.get(f"{service.url}/events", headers=reader),
            httpx.get(f"{service.url}/events/{event_id}/payload", headers=reader),
        ]
        figures.events_sent = 1 + len(answers)
        figures.server_errors = sum(a.status_code >= 500 for a in answers)
    finally:
        ledger.close()
        service.stop()

    events_text = answers[-2].text + answers[-1].text
    log_text = log.read_text()
    assert "leaked:" in events_text and "delivery refused" in log_text
    for secret in SECRETS:
        assert secret not in log_text, "a secret reached the service log"
        assert secret not in events_text, "a secret reached /events"
        for answer in answers:
            assert secret not in answer.text and secret not in str(answer.headers)
    assert figures.server_errors == 0
