"""The Feast store the pipelines and the model server share in a run: a registry in MinIO, Redis online.

A model server in its own namespace cannot open the pipelines' work volume, so, as a production cluster would,
the run puts the registry in object storage (the run's MinIO, bucket ``BUCKET``) and the online store on a
networked server: Debian's ``redis-server`` on the node's bridge address, with a random password and no
persistence. The pipelines' settings name both (``workflows.argo.feature_store``) with the Secret
``PIPELINES_SECRET`` their steps take as variables, and ``gitops init`` writes the same registry and online
store into the model server's ``feature_store.yaml`` (``gitops.scaffold.feature_store``), whose variables come
from the Secret ``MODEL_SERVER_SECRET`` in each environment's namespace. The password and keys are only in
those Secrets and in this process; the settings carry ``${REDIS_PASSWORD}``, which Feast expands.

The online values are the run's own: ``data-etl`` materializes them on the node, and ``online_rows`` reads them
back from the host through the registry that ``feature-apply`` wrote, as the model server reads them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pandas as pd
import yaml

from gitops.settings import SharedFeatureStore
from tests.cluster.kube import Kube, wait_for
from tests.cluster.network import NODE_IP
from tests.cluster.ports import free_port
from tests.cluster.processes import Supervisor
from tests.cluster.s3 import Store
from tests.infra.minio import create_buckets
from tests.infra.redis import answers, write_config
from workflows.settings import ArgoSettings, ClusterFeatureStoreSettings
from workflows.steps.contract import FeatureStoreRuntime, StepRuntime
from workflows.steps.feature_store import open_store

BUCKET = "feature-store"
REGISTRY = f"s3://{BUCKET}/registry.db"
PROJECT = "churn"  # the project of the built-in feature_repo/, which the run's feature-apply applies
FEATURE_SERVICE, ENTITY_KEY = "churn_model", "customer_id"  # what the model server is configured to read
PIPELINES_SECRET = "mlops-feature-store"
MODEL_SERVER_SECRET = "model-server-feature-store"  # as the GitOps template's shared-feature-store component names it
MODEL_SERVER_NAMESPACES = ("ml-staging", "ml-production")
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class SharedStore:
    online_store: dict[str, Any]
    variables: Mapping[str, str] = field(repr=False)  # the Secrets' contents: keys, endpoint, password

    def scaffold(self) -> SharedFeatureStore:
        return SharedFeatureStore(project=PROJECT, registry=REGISTRY, online_store=self.online_store)

    def runtime(self, directory: Path) -> StepRuntime:
        """A Feast store on the host over the shared registry and online store."""
        return StepRuntime(
            work_dir=str(directory / "work"),
            feature_store_dir=str(directory / "store"),
            feature_repo_source=str(directory / "unused"),
            feast_project=PROJECT,
            mlflow_tracking_uri="http://127.0.0.1:1",
            feature_store=FeatureStoreRuntime(registry=REGISTRY, online_store=self.online_store),
        )

    def environment(self) -> AbstractContextManager[dict[str, str]]:
        """The Secrets' variables in this process while Feast works, as the pods have them."""
        return patch.dict(os.environ, self.variables)


def _secret(name: str, namespace: str, variables: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": dict(variables),
    }


def start_feature_store(
    supervisor: Supervisor, kube: Kube, work: Path, store: Store, pipelines_namespace: str
) -> SharedStore:
    """Redis on the node's address, the registry's bucket, and the Secrets of the pipelines and the model server."""
    create_buckets(store.endpoint, store.credentials, [BUCKET])
    port, password = free_port(), secrets.token_hex(16)
    directory = work / "redis"
    directory.mkdir()
    config = write_config(directory / "redis.conf", NODE_IP, port, password)
    supervisor.start("redis-feature-store", ["redis-server", str(config)])

    def up() -> bool | None:
        supervisor.check_alive()
        return True if answers(NODE_IP, port, password) else None

    wait_for("redis-server (feature store) PING", up, START_TIMEOUT)
    variables = {
        **store.credentials.environment(),
        "FEAST_S3_ENDPOINT_URL": store.endpoint,
        "REDIS_PASSWORD": password,
    }
    spaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in MODEL_SERVER_NAMESPACES]
    made = [_secret(PIPELINES_SECRET, pipelines_namespace, variables)]
    made += [_secret(MODEL_SERVER_SECRET, namespace, variables) for namespace in MODEL_SERVER_NAMESPACES]
    kube.apply(yaml.safe_dump_all([*spaces, *made]))
    online_store = {"type": "redis", "connection_string": f"{NODE_IP}:{port},password=${{REDIS_PASSWORD}}"}
    return SharedStore(online_store=online_store, variables=variables)


def with_feature_store(settings: ArgoSettings, shared: SharedStore) -> ArgoSettings:
    """The pipelines' settings naming the shared registry and online store, and the Secret of their variables."""
    feature_store = ClusterFeatureStoreSettings(
        registry=REGISTRY, online_store=shared.online_store, credentials_secret=PIPELINES_SECRET
    )
    return settings.model_copy(update={"feature_store": feature_store})


def online_rows(shared: SharedStore, directory: Path, customers: list[int]) -> pd.DataFrame:
    """The model's features of ``customers`` as the online store holds them, read through the feature service."""
    with shared.environment():
        store = open_store(shared.runtime(directory))
        service = store.get_feature_service(FEATURE_SERVICE)
        found = store.get_online_features(features=service, entity_rows=[{ENTITY_KEY: c} for c in customers])
        frame = found.to_df()
    missing = frame[frame.isna().any(axis=1)]
    if not missing.empty:
        raise AssertionError(f"the online store lacks features of customers {list(missing[ENTITY_KEY])}")
    return frame
