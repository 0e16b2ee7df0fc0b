"""The operators turn the project's SparkApplication and RayJob into the pods the pipelines need.

The manifests are the ones the service renders into its ``data-etl`` and ``retrain`` workflows (the resource
templates Argo's executor would create), sized for this machine through the settings. They are created here
directly, so that the operators are checked apart from Argo's executor; spark-operator then submits the application with
``spark-submit`` and KubeRay builds the Ray cluster. Each pod is compared with what the settings ask for: image,
service account, the S3 store and its keys' Secret, Ray's authentication token, resources, the work volume, and
the run's node.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.cluster.kube import Kube, wait_for
from tests.cluster.pipelines import SpecMismatchError
from tests.cluster.s3 import SECRET
from tests.workflows.pipeline_samples import SAMPLE_LABELS, SAMPLE_PARAMS
from workflows.naming import run_name
from workflows.pipelines import build_workflow
from workflows.pipelines.cluster import S3_CREDENTIAL_VARIABLES
from workflows.pipelines.context import WORK_MOUNT
from workflows.settings import ArgoSettings, SparkApplicationSettings

RECONCILE_TIMEOUT = 180.0
RAY_TOKEN_VARIABLE = "RAY_AUTH_TOKEN"  # what KubeRay gives each pod of a cluster with token authentication


def with_store(settings: ArgoSettings, s3_endpoint: str) -> ArgoSettings:
    """``settings`` (already sized for this machine, ``tests.cluster.pipelines.node_sizing``) with the run's S3
    store and its keys' Secret, validated as a config file's are."""
    spark = settings.spark.model_dump(mode="json")
    spark |= {"s3": {"endpoint": s3_endpoint, "path_style_access": True}, "s3_credentials_secret": SECRET}
    return settings.model_copy(update={"spark": SparkApplicationSettings.model_validate(spark)})


SPARK_APPLICATIONS = "sparkapplications.sparkoperator.k8s.io"
RAY_JOBS = "rayjobs.ray.io"


def delete_all(kube: Kube, namespace: str, resource: str) -> None:
    """Delete every ``resource`` (SparkApplications, RayJobs) of ``namespace``; their operators remove the pods."""
    kube.kubectl("delete", resource, "--all", "-n", namespace)


def rendered_resources(pipeline: str, settings: ArgoSettings) -> list[dict[str, Any]]:
    """The custom resources the pipeline's resource templates create, as the service renders them."""
    name = run_name(pipeline, f"cluster-test:operators:{pipeline}")
    workflow = build_workflow(
        pipeline, SAMPLE_PARAMS[pipeline], run_name=name, labels=SAMPLE_LABELS, settings=settings
    ).to_dict()
    return [yaml.safe_load(t["resource"]["manifest"]) for t in workflow["spec"]["templates"] if "resource" in t]


def _expect(what: str, seen: Any, expected: Any) -> None:
    if seen != expected:
        raise SpecMismatchError(f"{what}: expected {expected!r}, the operator made {seen!r}")


def _secret_variables(container: dict[str, Any]) -> dict[str, Any]:
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def _pod_summary(pod: dict[str, Any]) -> dict[str, Any]:
    container = pod["spec"]["containers"][0]
    return {
        "pod": pod["metadata"]["name"],
        "phase": pod.get("status", {}).get("phase"),
        "node": pod["spec"].get("nodeName"),
        "service_account": pod["spec"].get("serviceAccountName"),
        "image": container["image"],
        "resources": container.get("resources"),
    }


def _check_common(where: str, pod: dict[str, Any], account: str, settings: ArgoSettings, node: str) -> None:
    container = pod["spec"]["containers"][0]
    _expect(f"{where} image", container["image"], settings.image)
    _expect(f"{where} service account", pod["spec"].get("serviceAccountName"), account)
    _expect(f"{where} node", pod["spec"].get("nodeName"), node)
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    if WORK_MOUNT not in mounts:
        raise SpecMismatchError(f"{where} does not mount the work volume at {WORK_MOUNT}: {sorted(mounts)}")


def check_spark(kube: Kube, settings: ArgoSettings, node: str) -> dict[str, Any]:
    """spark-operator submits data-etl's SparkApplication: its driver pod runs the step with the S3 settings."""
    namespace, spark = settings.namespace, settings.spark
    (application,) = [r for r in rendered_resources("data-etl", settings) if r["kind"] == "SparkApplication"]
    name = application["metadata"]["name"]
    kube.create(f"/apis/sparkoperator.k8s.io/v1beta2/namespaces/{namespace}/sparkapplications", application)

    def driver() -> dict[str, Any] | None:
        response = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}-driver")
        return dict(response.json()) if response.ok and response.json()["spec"].get("nodeName") else None

    pod = wait_for(f"spark-operator to start {name}'s driver", driver, RECONCILE_TIMEOUT)
    where = f"driver pod {pod['metadata']['name']}"
    _check_common(where, pod, spark.service_account, settings, node)
    container = pod["spec"]["containers"][0]
    _expect(f"{where} first argument (the image entrypoint's Spark role)", container["args"][0], "driver")
    _expect(
        f"{where} keys",
        {v: _secret_variables(container).get(v) for v in S3_CREDENTIAL_VARIABLES},
        {v: {"name": spark.s3_credentials_secret, "key": v} for v in S3_CREDENTIAL_VARIABLES},
    )
    _expect(f"{where} CPU request", container["resources"]["requests"]["cpu"], spark.driver_core_request)
    arguments = container["args"]
    request = json.loads(arguments[arguments.index("--params") + 1])
    _expect(f"{where} S3 store in the step request", request["runtime"]["spark"]["s3"], spark.s3.model_dump())
    state = wait_for(f"spark-operator to report {name} submitted", lambda: _submitted(kube, namespace, name), 60)
    return {"sparkapplication": name, "state": state, "driver": _pod_summary(pod)}


def _submitted(kube: Kube, namespace: str, name: str) -> str | None:
    """The application's state once spark-submit has returned; a failed submission fails with its message."""
    path = f"/apis/sparkoperator.k8s.io/v1beta2/namespaces/{namespace}/sparkapplications/{name}"
    state = kube.get(path).get("status", {}).get("applicationState", {})
    if state.get("state") in ("FAILED", "SUBMISSION_FAILED"):
        message = " ".join(str(state.get("errorMessage", "")).split())
        raise SpecMismatchError(f"{name} {state['state']}: {message[:1500]}")
    return state.get("state") if state.get("state") in ("SUBMITTED", "RUNNING") else None


def check_ray(kube: Kube, settings: ArgoSettings, node: str) -> dict[str, Any]:
    """KubeRay turns retrain's RayJob into a Ray cluster: a head and one worker pod per training worker."""
    namespace, ray = settings.namespace, settings.ray
    (job,) = [r for r in rendered_resources("retrain", settings) if r["kind"] == "RayJob"]
    name = job["metadata"]["name"]
    (group,) = job["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    kube.create(f"/apis/ray.io/v1/namespaces/{namespace}/rayjobs", job)

    def cluster_pods() -> list[dict[str, Any]] | None:
        status = kube.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayjobs/{name}").get("status", {})
        cluster = status.get("rayClusterName")
        if not cluster:
            return None
        pods = kube.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=ray.io%2Fcluster%3D{cluster}")["items"]
        placed = [p for p in pods if p["spec"].get("nodeName")]
        return placed if len(placed) == 1 + group["replicas"] else None

    pods = wait_for(f"KubeRay to start {name}'s head and workers", cluster_pods, RECONCILE_TIMEOUT)
    summaries = []
    for pod in pods:
        kind = pod["metadata"]["labels"].get("ray.io/node-type")
        resources = ray.head if kind == "head" else ray.worker
        where = f"Ray {kind} pod {pod['metadata']['name']}"
        _check_common(where, pod, settings.service_account, settings, node)
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        _expect(f"{where} limits", (limits["cpu"], limits["memory"]), (resources.cpu, resources.memory))
        if RAY_TOKEN_VARIABLE not in _secret_variables(pod["spec"]["containers"][0]):
            raise SpecMismatchError(f"{where} has no {RAY_TOKEN_VARIABLE} from a Secret: its head would refuse it")
        summaries.append({"node_type": kind, **_pod_summary(pod)})
    status = kube.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayjobs/{name}")["status"]
    return {
        "rayjob": name,
        "job_deployment_status": status.get("jobDeploymentStatus"),
        "workers": sum(1 for s in summaries if s["node_type"] == "worker"),
        "pods": summaries,
    }
