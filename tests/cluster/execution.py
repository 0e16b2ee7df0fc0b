"""A pipeline that runs to its end on the real node: ``feature-apply`` with the service's built-in Feast repository.

Of the three pipelines, it is the one that can finish with what the run has: ``data-etl`` and ``retrain`` need
spark-operator, KubeRay, an object store and MLflow in the cluster, and every repository step needs a git host
the pods can reach. ``feature-apply`` without a repository registers the image's own ``feature_repo/`` in a
Feast file registry on the work volume. The service submits it through argo-server as in level 2; the
controller starts its pod with Argo's ``init`` and ``wait`` containers, the emissary runs ``feast apply`` in the
project image, the ``wait`` container reports the step's ``result`` output as a WorkflowTaskResult, and the
service reads the finished run, outputs included, through argo-server.
"""

from __future__ import annotations

from typing import Any

from tests.cluster.kube import Kube, wait_for
from tests.cluster.pipelines import WORKFLOW_LABEL
from tests.workflows.pipeline_samples import SAMPLE_LABELS
from workflows.argo.backend import ArgoBackend
from workflows.backend import RunPhase, RunStatus
from workflows.naming import run_name
from workflows.params import FeatureApplyParams
from workflows.settings import ArgoSettings

PIPELINE = "feature-apply"
RUN_TIMEOUT = 900.0  # a cold node: the first start of the project image and of the Feast CLI take minutes


class RunFailedError(AssertionError):
    """The pipeline did not succeed; the message carries each step's phase and message, and pod logs."""


def _step_report(kube: Kube, namespace: str, workflow: dict[str, Any]) -> list[dict[str, Any]]:
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
        return kube.kubectl("logs", "-n", namespace, pod, "--all-containers", "--tail=30")
    except RuntimeError as e:
        return str(e)


def run_to_completion(kube: Kube, backend: ArgoBackend, settings: ArgoSettings) -> dict[str, Any]:
    """Submit ``feature-apply`` as the service does, wait for its end, and check what the service reads back."""
    name = run_name(PIPELINE, "cluster-test:level-3")
    backend.submit(PIPELINE, FeatureApplyParams(), run_name=name, labels=SAMPLE_LABELS)
    namespace = settings.namespace

    def finished() -> RunStatus | None:
        status = backend.status(name)
        return status if status.finished else None

    status = wait_for(f"{name} finished", finished, RUN_TIMEOUT, interval=3)
    workflow = kube.get(f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{name}")
    steps = _step_report(kube, namespace, workflow)
    if status.phase != RunPhase.SUCCEEDED:
        logs = {step["pod"]: _logs(kube, namespace, str(step["pod"])) for step in steps}
        raise RunFailedError(f"{name} {status.phase}: {status.message}; steps {steps}; logs {logs}")
    if not status.outputs:
        raise RunFailedError(f"{name} succeeded, but the service read no step outputs back: {status}")
    pods = kube.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={WORKFLOW_LABEL}%3D{name}")["items"]
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
