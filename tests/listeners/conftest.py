"""Fixtures of the listener tests: a real SQLite ledger and the webhook app in front of it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from listeners.http.app import create_app
from listeners.settings import ListenerSettings
from triggers.ledger import Ledger

GITHUB_SECRET = "gh-secret-current"
GITHUB_OLD_SECRET = "gh-secret-previous"
GITLAB_TOKEN = "gl-token-1234-5678"
GITEA_SECRET = "gitea-secret-5678"
MLFLOW_SECRET = "mlflow-secret-90ab"
DATABRICKS_SECRET = "databricks-secret-cdef"
DATA_WHSEC = "whsec_" + base64.b64encode(b"standard-webhooks-key-0123456789").decode()
MINIO_TOKEN = "minio-bearer-token"
PER_REPO = {"team/private-model": ["private-repo-secret"]}


def listener_settings(**overrides: object) -> ListenerSettings:
    return ListenerSettings.model_validate(
        {
            "webhooks": {
                "github": {"secrets": [GITHUB_SECRET, GITHUB_OLD_SECRET], "per_repo": PER_REPO},
                "gitlab": {"secrets": [GITLAB_TOKEN]},
                "gitea": {"secrets": [GITEA_SECRET]},
                "mlflow": {"secrets": [MLFLOW_SECRET]},
                "databricks": {"secrets": [DATABRICKS_SECRET]},
                "data": {"secrets": [DATA_WHSEC, MINIO_TOKEN]},
                "max_body_bytes": 64 * 1024,
            },
            **overrides,
        }
    )


def kafka_settings(bootstrap_servers: str, topic: str, group_id: str, **kafka: object) -> ListenerSettings:
    """Listener settings with the Kafka consumer on for one topic and group (``kafka`` adds further options)."""
    return ListenerSettings.model_validate(
        {
            "kafka": {
                "enabled": True,
                "bootstrap_servers": [bootstrap_servers],
                "topics": [topic],
                "group_id": group_id,
                **kafka,
            }
        }
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", sqlite_synchronous="NORMAL")
    yield opened
    opened.close()


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with TestClient(create_app(listener_settings(), ledger)) as test_client:
        yield test_client
