"""The run's S3 store: MinIO from the pinned module, its buckets, and the Secret the Spark pods read keys from.

MinIO runs on the host, beside the control plane, not as a pod: a production cluster also reaches its object
store (S3, a MinIO or Ceph of its own) at a URL outside the workloads it serves, the store then outlives the
run's pods, and it is up before any node is. It listens on ``host``: the node's bridge address, which the pods route to
and the host reaches too. Pods get the
keys from the Secret ``SECRET``, created in each namespace given; the pipelines' settings name it in
``workflows.argo.spark.s3_credentials_secret``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.cluster.kube import Kube, wait_for
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.infra.minio import S3Credentials, create_buckets, is_live, minio_command, minio_environment

DATA_BUCKET = "mlops-data"  # raw arrivals and the ETL's curated output
MLFLOW_BUCKET = "mlflow"  # the in-cluster MLflow server's artifacts
SECRET = "mlops-s3-credentials"  # keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as deploy/ documents it
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Store:
    endpoint: str
    credentials: S3Credentials
    buckets: list[str]


def credentials_secret(name: str, namespace: str, credentials: S3Credentials) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": credentials.environment(),
    }


def start_store(
    supervisor: Supervisor,
    kube: Kube,
    work: Path,
    *,
    namespaces: Sequence[str],
    host: str = LOOPBACK,
) -> Store:
    credentials = S3Credentials.random()
    address = f"{host}:{free_port()}"
    supervisor.start("minio", minio_command(work / "minio", address), env=minio_environment(credentials))
    endpoint = f"http://{address}"

    def live() -> bool | None:
        supervisor.check_alive()
        return True if is_live(endpoint) else None

    wait_for("minio /minio/health/live", live, START_TIMEOUT)
    buckets = create_buckets(endpoint, credentials, (DATA_BUCKET, MLFLOW_BUCKET))
    spaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in namespaces]
    kube.apply(yaml.safe_dump_all([*spaces, *(credentials_secret(SECRET, n, credentials) for n in namespaces)]))
    return Store(endpoint=endpoint, credentials=credentials, buckets=buckets)
