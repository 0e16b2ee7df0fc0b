"""The pipelines and the model server share one Feast store: a registry in S3 and a Redis online store.

The pipelines' ``feature-apply`` step writes the registry to a real MinIO bucket, features are written to a real
Redis that asks for a password, and the model server opens the ``feature_store.yaml`` that ``gitops init``
writes for it from ``gitops.scaffold.feature_store``: it finds the feature service and reads the values back. The
password and the S3 keys reach both sides only as environment variables, as the Secrets give them in a cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitops.scaffold import init_repo
from gitops.settings import ScaffoldSettings, SharedFeatureStore
from services.model_server.features import OnlineFeatures
from tests.infra.minio import MinioServer, create_buckets
from tests.infra.redis import RedisServer
from tests.workflows.test_mlrepo_hooks import training_rows
from workflows.params import FeatureApplyParams
from workflows.steps.contract import FeatureStoreRuntime, StepRequest, StepRuntime
from workflows.steps.feast_apply import feast_apply
from workflows.steps.feature_store import open_store

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
BUCKET = "feature-store"
REGISTRY = f"s3://{BUCKET}/churn/registry.db"


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    server = MinioServer.start(tmp_path_factory.mktemp("minio"))
    create_buckets(server.endpoint, server.credentials, [BUCKET])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def credentials(minio: MinioServer, redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Secret gives every step container and the model server (``envFrom``)."""
    for name, value in {
        **minio.credentials.environment(),
        "FEAST_S3_ENDPOINT_URL": minio.endpoint,
        "REDIS_PASSWORD": redis.password,
    }.items():
        monkeypatch.setenv(name, value)


def test_the_model_server_reads_what_the_pipelines_wrote_to_the_shared_store(
    tmp_path: Path, minio: MinioServer, redis: RedisServer, credentials: None
) -> None:
    online_store = {"type": "redis", "connection_string": redis.connection_string}
    runtime = StepRuntime(
        work_dir=str(tmp_path / "work"),
        feature_store_dir=str(tmp_path / "store"),
        feature_repo_source=str(REPO_ROOT / "feature_repo"),
        feast_project="churn",
        mlflow_tracking_uri="http://127.0.0.1:1",
        feature_store=FeatureStoreRuntime(registry=REGISTRY, online_store=online_store),
    )
    applied = feast_apply(
        StepRequest[FeatureApplyParams](params=FeatureApplyParams(), runtime=runtime, workflow_name="apply-1")
    )
    assert applied.feature_services == ["churn_model"]
    assert redis.password not in (tmp_path / "store" / "feature_store.yaml").read_text()
    rows = training_rows(20).assign(event_timestamp=datetime.now(UTC))
    store = open_store(runtime)
    for view in store.list_feature_views():
        store.write_to_online_store(
            view.name, rows[["customer_id", "event_timestamp", *(f.name for f in view.features)]]
        )

    gitops = tmp_path / "gitops"
    scaffold = ScaffoldSettings(
        model_name="churn-xgb",
        feature_service="churn_model",
        entity_key="customer_id",
        feature_store=SharedFeatureStore(project="churn", registry=REGISTRY, online_store=online_store),
    )
    init_repo(gitops, repo_url="file:///gitops.git", author=("bot", "bot@example.com"), scaffold=scaffold)
    mounted = tmp_path / "etc-feast"  # the ConfigMap's one file, as the Deployment mounts it
    mounted.mkdir()
    shutil.copy(gitops / "components" / "shared-feature-store" / "feature_store.yaml", mounted)
    served = OnlineFeatures(mounted, "churn_model", "customer_id")

    looked_up = served.lookup([3, 7, 11])

    expected = rows.set_index("customer_id").loc[[3, 7, 11]]
    for name in served.feature_names:
        assert looked_up[name] == pytest.approx(list(expected[name])), name
    assert served.lookup([999])["tenure_months"] == [None]
