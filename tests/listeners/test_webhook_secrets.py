"""Webhook sources refuse to start without secrets; which sources are open; a closed one answers 404."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from devtools.devstack.senders import github_headers
from listeners.http.app import create_app
from listeners.settings import WEBHOOK_SOURCES, ListenerSettings
from listeners.webhook_secrets import WebhookSecretsMissingError, check_webhook_secrets
from tests.listeners.conftest import GITHUB_SECRET
from triggers.ledger import Ledger

LONG = "a-secret-of-more-than-32-bytes-0123456789"


def settings(**webhooks: object) -> ListenerSettings:
    return ListenerSettings.model_validate({"webhooks": webhooks})


def test_unset_sources_open_those_with_a_secret_or_all_when_none_has_one() -> None:
    assert settings(github={"secrets": [LONG]}, gitea={"per_repo": {"a/b": [LONG]}}).webhooks.open_sources() == [
        "github",
        "gitea",
    ]
    assert settings().webhooks.open_sources() == list(WEBHOOK_SOURCES)
    assert settings(sources=[]).webhooks.open_sources() == []
    assert settings(sources=["mlflow"], github={"secrets": [LONG]}).webhooks.open_sources() == ["mlflow"]


def test_an_open_source_without_a_secret_refuses_to_start_naming_each_setting() -> None:
    with pytest.raises(WebhookSecretsMissingError) as refused:
        check_webhook_secrets(settings(sources=["github", "mlflow", "data"], mlflow={"secrets": [LONG]}))

    headline, *lines = str(refused.value).splitlines()
    assert "--insecure-dev" in headline
    assert [line.split(":")[0].strip() for line in lines] == [
        "listeners.webhooks.github.secrets",
        "listeners.webhooks.data.secrets",
    ]


def test_no_secret_at_all_refuses_every_source_and_insecure_dev_lets_it_start() -> None:
    with pytest.raises(WebhookSecretsMissingError) as refused:
        check_webhook_secrets(settings())
    assert len(str(refused.value).splitlines()) == 1 + len(WEBHOOK_SOURCES)

    check_webhook_secrets(ListenerSettings(insecure_dev=True))
    check_webhook_secrets(settings(sources=[]))
    check_webhook_secrets(settings(github={"secrets": [GITHUB_SECRET]}))


def test_a_closed_source_answers_404(ledger: Ledger) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    with TestClient(create_app(settings(github={"secrets": [GITHUB_SECRET]}), ledger)) as client:
        closed = client.post("/webhooks/gitlab", content=body, headers={"Content-Type": "application/json"})
        ping = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET, "ping"))
    assert (closed.status_code, closed.json()["error"]) == (404, "source_closed")
    assert ping.status_code == 200


def test_serve_exits_before_opening_its_port_when_secrets_are_missing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\ntriggers: []\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
                "rules": {"path": str(rules)},
                "listeners": {"webhooks": {"sources": ["github", "gitlab"], "gitlab": {"secrets": [LONG]}}},
            }
        )
    )

    served = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert served.returncode == 2, served.stderr
    assert "webhook sources refuse to start without secrets" in served.stderr
    assert "listeners.webhooks.github.secrets" in served.stderr
    assert "listeners.webhooks.gitlab" not in served.stderr
    assert not (tmp_path / "ledger.db").exists(), "the check comes before anything is opened"
