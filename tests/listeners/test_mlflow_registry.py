"""Against a real ``mlflow server``: signed registry webhooks reach the ledger, and the watcher catches the rest."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.senders import mlflow_headers
from gitops.mlflow_registry import MlflowModelRegistry
from listeners.http.app import create_app
from listeners.settings import RegistryWatcherSettings
from listeners.watcher.watcher import RegistryWatcher
from tests.listeners.conftest import MLFLOW_SECRET, listener_settings
from tests.listeners.serving import serve
from triggers.event import Event, EventType, ModelChange
from triggers.ledger import Ledger


@pytest.fixture
def app_url(ledger: Ledger) -> Iterator[str]:
    with serve(create_app(listener_settings(), ledger)) as url:
        yield url


def _event(ledger: Ledger, key: str, timeout: float = 60) -> Event:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ledger.database.engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT id FROM events WHERE idempotency_key = ?", (key,)).scalar()
        if found:
            record = ledger.reads.get(str(found))
            assert record is not None
            return record.event
        time.sleep(0.1)
    raise AssertionError(f"no event {key!r} in the ledger")


def _change(event: Event) -> ModelChange:
    assert isinstance(event.data, ModelChange)
    return event.data


def _register_version(client: MlflowClient, model: str) -> str:
    run = client.create_run(experiment_id="0")
    version = client.create_model_version(model, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return str(version.version)


@pytest.mark.slow
def test_registry_webhooks_and_the_watcher_record_each_change_once(
    mlflow_server: MlflowServer, ledger: Ledger, app_url: str
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server.tracking_uri, registry_uri=mlflow_server.tracking_uri)
    watcher = RegistryWatcher(RegistryWatcherSettings(), ledger, MlflowModelRegistry(mlflow_server.tracking_uri))
    assert watcher.poll_once() == 0  # the baseline
    client.create_webhook(
        name=f"listener-{uuid.uuid4().hex[:8]}",
        url=f"{app_url}/webhooks/mlflow",
        events=["model_version.created", "model_version_alias.created"],
        secret=MLFLOW_SECRET,
    )
    model = f"churn-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(model)

    first = _register_version(client, model)
    created = _event(ledger, f"mlflow:version:{model}:{first}")
    assert created.type is EventType.MODEL_VERSION_CREATED
    assert _change(created).run_id is not None

    client.set_registered_model_alias(model, "champion", first)
    alias = _change(_event(ledger, f"mlflow:alias:{model}:champion:1:{first}"))
    assert (alias.alias, alias.version, alias.previous_version) == ("champion", first, None)
    assert watcher.poll_once() == 0, "the watcher must not repeat what the webhook delivered"

    client.transition_model_version_stage(model, first, "Production")
    assert watcher.poll_once() == 1
    stage = _change(_event(ledger, f"mlflow:stage:{model}:{first}:1:Production"))
    assert (stage.from_stage, stage.to_stage, stage.version) == ("None", "Production", first)

    restarted = RegistryWatcher(RegistryWatcherSettings(), ledger, MlflowModelRegistry(mlflow_server.tracking_uri))
    assert restarted.poll_once() == 0, "a restart re-emits nothing"

    client.set_registered_model_alias(model, "champion", _register_version(client, model))
    moved = _change(_event(ledger, f"mlflow:alias:{model}:champion:2:2"))
    assert (moved.version, moved.previous_version) == ("2", first)
    second = moved.version
    assert watcher.poll_once() == 0

    client.delete_registered_model_alias(model, "champion")  # the webhook does not carry deletions: "missed"
    assert restarted.poll_once() == 1
    removed = _change(_event(ledger, f"mlflow:alias:{model}:champion:3:deleted", timeout=1))
    assert (removed.version, removed.previous_version) == (None, second)

    late = _late_alias_deletion(app_url, model)
    assert late.status_code == 200 and late.json()["duplicate"] is True


def _late_alias_deletion(app_url: str, model: str) -> httpx.Response:
    """What MLflow sends for an alias deletion, arriving after the watcher caught it."""
    payload: dict[str, Any] = {
        "entity": "model_version_alias",
        "action": "deleted",
        "timestamp": "2026-11-26T09:00:00+00:00",
        "data": {"name": model, "alias": "champion"},
    }
    body = json.dumps(payload).encode()
    return httpx.post(f"{app_url}/webhooks/mlflow", content=body, headers=mlflow_headers(body, MLFLOW_SECRET))
