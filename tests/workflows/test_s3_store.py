"""The project's S3 code paths against a real S3 server: MinIO, built from its pinned module, on loopback.

Spark's ETL session writes and reads ``s3://`` through S3A with the connector jars the image ships (fetched
here by the image's own pinned fetcher) and keys only in the JVM's environment; an ``mlflow server`` keeps a
run's artifacts in a bucket while its client holds no key at all. Each result is read back from MinIO itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from devtools.devstack.mlflow_server import MlflowServer
from tests.infra.minio import MinioServer, create_buckets, s3_client
from tests.upstream import REPO_ROOT

JARS_MANIFEST = REPO_ROOT / "image" / "spark-jars.txt"
DATA_BUCKET, MLFLOW_BUCKET = "mlops-data", "mlflow"


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    server = MinioServer.start(tmp_path_factory.mktemp("minio"))
    create_buckets(server.endpoint, server.credentials, (DATA_BUCKET, MLFLOW_BUCKET))
    yield server
    server.stop()


def s3a_jars() -> list[Path]:
    """The S3A connector jars of the image, fetched once into a cache named after their pinned manifest."""
    key = hashlib.sha256(JARS_MANIFEST.read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-gitops" / "spark-jars" / key
    if not (cache / ".complete").exists():
        subprocess.run(
            [sys.executable, str(REPO_ROOT / "image" / "fetch_jars.py"), str(JARS_MANIFEST), str(cache)], check=True
        )
        (cache / ".complete").touch()
    return sorted(cache.glob("*.jar"))


def object_keys(minio: MinioServer, bucket: str, prefix: str = "") -> list[str]:
    listed = s3_client(minio.endpoint, minio.credentials).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_the_etl_spark_session_writes_and_reads_s3_paths_through_s3a(minio: MinioServer) -> None:
    done = _roundtrip(minio, f"s3://{DATA_BUCKET}/curated/t", minio.credentials.environment())

    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [["c-1", 3], ["c-2", 5], ["c-3", 8]]
    written = object_keys(minio, DATA_BUCKET, "curated/t/")
    assert "curated/t/_SUCCESS" in written
    assert any(key.endswith(".parquet") for key in written)


def test_spark_without_the_keys_is_refused_by_the_store(minio: MinioServer) -> None:
    done = _roundtrip(minio, f"s3://{DATA_BUCKET}/refused", {})

    assert done.returncode != 0
    assert "NoAuthWithAWSException" in done.stderr or "credentials" in done.stderr.lower()
    assert object_keys(minio, DATA_BUCKET, "refused/") == []


def test_mlflow_server_keeps_artifacts_in_the_bucket_for_a_client_without_keys(
    minio: MinioServer, tmp_path: Path
) -> None:
    server = MlflowServer.start(
        tmp_path / "mlflow",
        artifacts_destination=f"s3://{MLFLOW_BUCKET}/artifacts",
        environment={"MLFLOW_S3_ENDPOINT_URL": minio.endpoint, **minio.credentials.environment()},
    )
    try:
        client = MlflowClient(tracking_uri=server.tracking_uri)
        experiment = client.create_experiment("s3-artifacts")
        run = client.create_run(experiment)
        client.log_text(run.info.run_id, '["tenure", "monthly_charges"]', "feature_list.json")
        listed = [a.path for a in client.list_artifacts(run.info.run_id)]
    finally:
        server.stop()

    assert listed == ["feature_list.json"]
    stored = object_keys(minio, MLFLOW_BUCKET, "artifacts/")
    assert any(key.endswith(f"{run.info.run_id}/artifacts/feature_list.json") for key in stored), stored


def _roundtrip(minio: MinioServer, path: str, keys: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Spark (S3A, the image's pinned jars) writes and reads ``path`` in a process of its own, with only ``keys``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | keys
    environment["PYSPARK_SUBMIT_ARGS"] = f"--jars {','.join(map(str, s3a_jars()))} pyspark-shell"
    return subprocess.run(
        [sys.executable, "-m", "tests.workflows.s3a_roundtrip", minio.endpoint, path],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
