"""The MLflow registry adapter against a real ``mlflow server``: what it knows, what it does not, and when it is down.

One adapter serves the write-back (``get_version``) and the registry watcher (``snapshot``), so both see MLflow's
answers classified the same way: an unknown model or version is no failure, an unreachable server is temporary.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from mlflow import MlflowClient

from core.errors import TemporaryError
from devtools.devstack.process import free_port
from gitops.mlflow_registry import MlflowModelRegistry


@pytest.fixture
def client(mlflow_server: Any) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server.tracking_uri, registry_uri=mlflow_server.tracking_uri)


def registered(client: MlflowClient) -> str:
    """A new model with one version, in stage Staging and under alias ``challenger``."""
    name = f"registry-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(name))
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.transition_model_version_stage(name, "1", "Staging")
    client.set_registered_model_alias(name, "challenger", "1")
    return name


def test_a_version_is_read_and_what_the_registry_does_not_know_is_none(
    mlflow_server: Any, client: MlflowClient
) -> None:
    name = registered(client)
    registry = MlflowModelRegistry(mlflow_server.tracking_uri)

    found = registry.get_version(name, "1")
    assert found is not None
    assert (found.name, found.version, found.stage, found.aliases) == (name, "1", "Staging", ("challenger",))
    assert found.registry_uri == f"models:/{name}/1"
    assert registry.get_version(name, "2") is None
    assert registry.get_version(name, "latest") is None
    assert registry.get_version(f"{name}-unregistered", "1") is None


def test_a_snapshot_leaves_out_a_configured_model_not_registered_yet(mlflow_server: Any, client: MlflowClient) -> None:
    name = registered(client)
    registry = MlflowModelRegistry(mlflow_server.tracking_uri)

    (snapshot,) = registry.snapshot([f"{name}-not-yet", name, "bad name'"])

    assert (snapshot.name, snapshot.aliases, snapshot.stages) == (name, {"challenger": "1"}, {"1": "Staging"})
    assert name in {s.name for s in registry.snapshot([])}


def test_an_unreachable_registry_is_a_temporary_failure_of_every_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    registry = MlflowModelRegistry(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(TemporaryError, match="cannot reach MLflow"):
        registry.get_version("churn-xgb", "1")
    with pytest.raises(TemporaryError, match="cannot reach MLflow"):
        registry.snapshot(["churn-xgb"])
    with pytest.raises(TemporaryError, match="cannot reach MLflow"):
        registry.snapshot([])
