"""Pipelines that run to their end on the real node: ``feature-apply``, then ``data-etl`` on data landed in S3.

``feature-apply`` without a repository registers the image's own ``feature_repo/`` in the Feast registry the
settings name (the shared one in S3). ``data-etl`` without a repository enforces the built-in contract: its
``SparkApplication`` becomes a Spark driver and executor through the real spark-operator, reading raw CSV
partitions from the run's MinIO over S3A and writing clean parquet and the quarantine to the work volume; then
``materialize`` puts the newest features online in the shared Redis. The raw data is generated here with the
defects a landing zone has (malformed rows, duplicates, blanks), so the quarantine and the de-duplication are
checked against what was put in. ``retrain`` then trains the scaffolded churn repository at its commit, cloned by
Argo from the run's HTTPS git host: the repository's own tests, the training set from the shared store, XGBoost
on a Ray head and two workers that the real KubeRay makes from the ``RayJob``, the evaluation gate, and the
version registered in the in-cluster MLflow, which is read back there.

The service submits each through argo-server as in level 2; the controller starts its pods with Argo's ``init``
and ``wait`` containers, the emissary runs the steps in the project image, the ``wait`` container reports each
step's ``result`` output as a WorkflowTaskResult, and the service reads the finished run, outputs included,
through argo-server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from pydantic import BaseModel

from devtools.datagen import GeneratedData, generate_raw_partitions
from tests.cluster.code_host import ServedRepository
from tests.cluster.kube import Kube, wait_for
from tests.cluster.pipelines import WORKFLOW_LABEL
from tests.cluster.s3 import DATA_BUCKET, Store
from tests.infra.minio import s3_client
from tests.workflows.pipeline_samples import SAMPLE_LABELS
from workflows.argo.backend import ArgoBackend
from workflows.backend import RunPhase, RunStatus
from workflows.naming import run_name
from workflows.params import EtlParams
from workflows.pipelines.context import RUN_LABEL
from workflows.settings import ArgoSettings

RUN_TIMEOUT = 1800.0  # a cold, busy node: the first starts of the project image, the Feast CLI and Ray take minutes
DATASET = "churn/customer_activity"
RAW_PREFIX = "raw/churn/customer_activity"
RAW_ROWS, RAW_DAYS = 2000, 2
RAY_MIN_WORKERS = 2


class RunFailedError(AssertionError):
    """The pipeline did not succeed; the message carries each step's phase and message, and pod logs."""


def step_report(kube: Kube, namespace: str, workflow: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    steps = []
    for node in nodes.values():
        if node.get("type") != "Pod":
            continue
        steps.append(
            {
                "step": node["displayName"],
                "phase": node.get("phase"),
                "message": node.get("message", ""),
                "pod": node["id"],
                "outputs": [p["name"] for p in (node.get("outputs") or {}).get("parameters", [])],
                "host": node.get("hostNodeName"),
            }
        )
    return sorted(steps, key=lambda s: str(s["step"]))


def _logs(kube: Kube, namespace: str, pod: str) -> str:
    try:
        return kube.kubectl("logs", "-n", namespace, pod, "--all-containers", "--tail=40")
    except RuntimeError as e:
        return str(e)


def run_pods(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    """The run's pods: Argo labels its step pods with the workflow, the Spark and Ray pods carry the run's label."""
    by_name = {
        p["metadata"]["name"]: p
        for label in (WORKFLOW_LABEL, RUN_LABEL)
        for p in kube.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={label}%3D{name}")["items"]
    }
    return list(by_name.values())


def run_to_completion(
    kube: Kube, backend: ArgoBackend, settings: ArgoSettings, pipeline: str, params: BaseModel, *, team: str = ""
) -> dict[str, Any]:
    """Submit ``pipeline`` as the service does, wait for its end, and check what the service reads back.

    The run's name comes from the pipeline and the ``team`` (as the service derives it from the event), so each
    team's run is a run of its own: a second submission under one name is the same run to Argo and the service.
    """
    name = run_name(pipeline, f"cluster-test:level-3:{team}:{pipeline}")
    backend.submit(pipeline, params, run_name=name, labels=SAMPLE_LABELS)
    namespace = settings.namespace

    def finished() -> RunStatus | None:
        status = backend.status(name)
        return status if status.finished else None

    status = wait_for(f"{name} finished", finished, RUN_TIMEOUT, interval=3)
    workflow = kube.get(f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{name}")
    steps = step_report(kube, namespace, workflow)
    pods = run_pods(kube, namespace, name)
    if status.phase != RunPhase.SUCCEEDED:
        logs = {pod["metadata"]["name"]: _logs(kube, namespace, pod["metadata"]["name"]) for pod in pods}
        raise RunFailedError(f"{name} {status.phase}: {status.message}; steps {steps}; logs {logs}")
    if not status.outputs:
        raise RunFailedError(f"{name} succeeded, but the service read no step outputs back: {status}")
    return {
        "workflow": name,
        "phase": status.phase.value,
        "steps": steps,
        "pods": {
            p["metadata"]["name"]: {
                "node": p["spec"].get("nodeName"),
                "ip": p["status"].get("podIP"),
                "containers": {
                    c["name"]: c.get("state", {}).get("terminated", {}).get("reason")
                    for c in [*p["status"].get("initContainerStatuses", []), *p["status"].get("containerStatuses", [])]
                },
            }
            for p in pods
        },
        "outputs_read_by_service": status.outputs,
    }


def land_raw_data(store: Store, directory: Path) -> tuple[EtlParams, GeneratedData]:
    """Raw CSV partitions, with their defects, uploaded where a landing zone would put them; the ETL's params."""
    # Recent days: the feature views' time-to-live is counted from now.
    start = datetime.now(UTC).date() - timedelta(days=RAW_DAYS)
    generated = generate_raw_partitions(directory, rows=RAW_ROWS, days=RAW_DAYS, start=start)
    client = s3_client(store.endpoint, store.credentials)
    for partition in generated.partitions:
        for file in sorted((directory / partition).iterdir()):
            client.upload_file(str(file), DATA_BUCKET, f"{RAW_PREFIX}/{partition}/{file.name}")
    params = EtlParams(
        dataset=DATASET,
        source_uri=f"s3://{DATA_BUCKET}/{RAW_PREFIX}",
        partitions=generated.partitions,
        trigger_event_id="cluster-test-data-arrived",
    )
    return params, generated


def check_etl(executed: dict[str, Any], generated: GeneratedData) -> dict[str, Any]:
    """What the ETL and the materialization report against what was landed."""
    outputs = executed["outputs_read_by_service"]
    etl, materialized = outputs["etl"], outputs["materialize"]
    expected = {
        "rows_read": generated.rows + generated.duplicate_rows,
        "bad_rows": generated.bad_rows,
        "duplicates_dropped": generated.duplicate_rows,
    }
    found = {key: etl[key] for key in expected}
    if found != expected or etl["rows_written"] != generated.rows - generated.bad_rows:
        raise RunFailedError(f"the ETL counted {etl}; landed {generated}")
    if materialized["online_store"] != "redis" or not materialized["feature_views"]:
        raise RunFailedError(f"materialize wrote {materialized}, not the shared Redis online store")
    spark_pods = [pod for pod in executed["pods"] if "-driver" in pod or "-exec-" in pod]
    return {"etl": etl, "materialize": materialized, "spark_pods": spark_pods}


def check_retrain(executed: dict[str, Any], tracking_uri: str, repository: ServedRepository) -> dict[str, Any]:
    """The retrain ran the repository's tests, trained on Ray worker pods and registered a version in MLflow."""
    outputs = executed["outputs_read_by_service"]
    tests, train, registered = outputs["repo-tests"], outputs["train"], outputs["register"]
    ray_pods = [pod for pod in executed["pods"] if "-head-" in pod or "-worker-" in pod]
    if len([pod for pod in ray_pods if "-worker-" in pod]) < RAY_MIN_WORKERS:
        raise RunFailedError(f"the training ran on {ray_pods}, not a Ray head and {RAY_MIN_WORKERS} workers")
    if train.get("training_commit") != repository.commit:
        raise RunFailedError(f"trained {train.get('training_commit')}, not the pushed commit {repository.commit}")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version(registered["model_name"], str(registered["model_version"]))
    if version.run_id != train["run_id"]:
        raise RunFailedError(f"MLflow's version {version.version} comes from run {version.run_id}, not {train}")
    return {
        "tests": tests,
        "ray_pods": ray_pods,
        "run_id": train["run_id"],
        "registered": {"model": version.name, "version": version.version, "source": version.source},
        "promoted": registered.get("promoted"),
    }
