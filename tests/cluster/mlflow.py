"""An ``mlflow server`` in the cluster, from the project image: the tracking server the pipelines register in.

Its backend store is SQLite on the pod's own volume (a test cluster's registry lives as long as the run) and
its artifacts go to the run's S3 bucket. The server proxies artifacts, so it alone holds the store's keys (from
the Secret in its namespace); the Ray workers and the service log and read artifacts through it. Its Service
``mlflow.mlflow.svc:5000`` is the address deploy/'s config gives both the service and the pipelines. MLflow
refuses Host headers other than localhost and private addresses unless they are allowed, so the Service's
names are, and the pod's own address, by which the run's host registers models (level 4).
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.cluster.kube import Kube, wait_for
from tests.cluster.network import POD_SUBNET
from tests.cluster.pipelines import SpecMismatchError
from tests.cluster.s3 import MLFLOW_BUCKET
from workflows.pipelines.cluster import S3_CREDENTIAL_VARIABLES

NAMESPACE = "mlflow"
NAME = "mlflow"
PORT = 5000
SCHEDULE_TIMEOUT = 120.0
READY_TIMEOUT = 240.0
# What a container waiting for an image it may not pull (or that is not imported yet) reports.
IMAGE_WAIT_REASONS = frozenset({"ErrImageNeverPull", "ImagePullBackOff", "ErrImagePull"})


def allowed_hosts() -> str:
    """The Service's names for the pods, and the pod's own address for the run's host (a pattern: any pod IP)."""
    names = (NAME, f"{NAME}.{NAMESPACE}", f"{NAME}.{NAMESPACE}.svc", f"{NAME}.{NAMESPACE}.svc.cluster.local")
    pod_addresses = POD_SUBNET.rsplit(".", 1)[0] + ".*"
    return ",".join(f"{name}:{PORT}" for name in (*names, pod_addresses)) + ",localhost:5000,127.0.0.1:5000"


def server_command() -> list[str]:
    return [
        "mlflow",
        "server",
        "--backend-store-uri=sqlite:////mlflow/mlflow.db",
        f"--artifacts-destination=s3://{MLFLOW_BUCKET}/artifacts",
        "--host=0.0.0.0",
        f"--port={PORT}",
        "--workers=1",
        f"--allowed-hosts={allowed_hosts()}",
    ]


def manifests(image: str, s3_endpoint: str, secret: str) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": NAME}
    keys = [
        {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": variable}}}
        for variable in S3_CREDENTIAL_VARIABLES
    ]
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": server_command(),
        "env": [
            {"name": "MLFLOW_S3_ENDPOINT_URL", "value": s3_endpoint},
            # The background job runner is a pool of processes serving features the pipelines do not use.
            {"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "value": "false"},
            *keys,
        ],
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "store", "mountPath": "/mlflow"}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # one writer on the SQLite store
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [container],
                    "volumes": [{"name": "store", "emptyDir": {}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }
    return [deployment, service]


def _pods(kube: Kube) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io%2Fname%3D{NAME}"
    return list(kube.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={selector}")["items"])


def _waiting_reason(pod: dict[str, Any]) -> str:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return str(statuses[0].get("state", {}).get("waiting", {}).get("reason", ""))


def mlflow_ready(kube: Kube) -> str:
    """Once the project image is on the node: the server's pod Ready; returns its URL for this host.

    A pod that found no image backs off for up to five minutes between attempts, so one still waiting on its
    image is deleted once and its ReplicaSet makes a new one at once. The host reaches the pod by its address on
    the bridge, which the server's ``--allowed-hosts`` admits.
    """
    for pod in _pods(kube):
        if _waiting_reason(pod) in IMAGE_WAIT_REASONS:
            kube.kubectl("delete", "pod", "-n", NAMESPACE, pod["metadata"]["name"], "--wait=false")

    def ready() -> str | None:
        for pod in _pods(kube):
            if pod["metadata"].get("deletionTimestamp"):  # a deleted pod may still read Ready while it goes
                continue
            conditions = pod.get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return f"http://{pod['status']['podIP']}:{PORT}"
        return None

    return wait_for("the mlflow server's pod Ready", ready, READY_TIMEOUT)


def start_mlflow(kube: Kube, image: str, s3_endpoint: str, secret: str, node: str) -> dict[str, Any]:
    """Deploy the server and wait for its pod on ``node``; returns what the report lists of it."""
    kube.apply(yaml.safe_dump_all(manifests(image, s3_endpoint, secret)))

    def placed() -> dict[str, Any] | None:
        pods = kube.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app.kubernetes.io%2Fname%3D{NAME}")
        ready = [p for p in pods["items"] if p["spec"].get("nodeName")]
        return ready[0] if ready else None

    pod = wait_for("the mlflow server's pod", placed, SCHEDULE_TIMEOUT)
    container = pod["spec"]["containers"][0]
    if pod["spec"]["nodeName"] != node or container["image"] != image or container["command"] != server_command():
        raise SpecMismatchError(f"mlflow pod {pod['metadata']['name']} differs from its Deployment: {container}")
    return {
        "pod": pod["metadata"]["name"],
        "phase": pod.get("status", {}).get("phase"),
        "tracking_uri": f"http://{NAME}.{NAMESPACE}.svc:{PORT}",
        "artifacts": f"s3://{MLFLOW_BUCKET}/artifacts",
    }
