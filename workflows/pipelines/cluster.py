"""Cluster-mode steps: the ETL as a spark-operator ``SparkApplication``, training as a KubeRay ``RayJob``.

In a cluster the heavy steps do not run inside one Argo pod: Argo creates the
custom resource with a ``Resource`` template, the operator runs it, and Argo
watches the resource's status with the success and failure conditions the
operators document. Failure conditions are OR-ed by Argo (any one matching
fails the step); success conditions are AND-ed. The resource's name is
derived from the run and step, so a retried creation cannot start a second
job, and its owner reference ties its life to the Workflow's.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import yaml
from hera.workflows import Resource
from pydantic import BaseModel

from workflows.naming import run_name
from workflows.pipelines.context import WORK_MOUNT, WORK_VOLUME, RenderContext
from workflows.pipelines.templates import step_arguments, step_command, step_request, upstream_inputs
from workflows.settings import StepResources
from workflows.steps.contract import SparkRuntime

SPARK_SUCCESS = "status.applicationState.state == COMPLETED"
SPARK_FAILURE = "status.applicationState.state in (FAILED, SUBMISSION_FAILED)"
RAY_SUCCESS = "status.jobStatus == SUCCEEDED"
RAY_FAILURE = "status.jobStatus == FAILED, status.jobDeploymentStatus == Failed"

_IN_CLUSTER_MASTER = "k8s://https://kubernetes.default.svc:443"
# The variables S3A's environment credentials provider reads, each the key of the same name in the Secret.
S3_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def spark_application_template(context: RenderContext, step: str, params: BaseModel) -> Resource:
    """A ``Resource`` template creating the ``SparkApplication`` that runs ``step`` on its driver."""
    manifest = spark_application(context, step, params)
    return _resource_template(f"{step}-sparkapplication", manifest, SPARK_SUCCESS, SPARK_FAILURE, upstream=())


def ray_job_template(
    context: RenderContext, step: str, params: BaseModel, upstream: Sequence[str], workers: int
) -> Resource:
    """A ``Resource`` template creating the ``RayJob`` that runs ``step`` as its entrypoint on ``workers`` workers."""
    manifest = ray_job(context, step, params, upstream, workers)
    return _resource_template(f"{step}-rayjob", manifest, RAY_SUCCESS, RAY_FAILURE, upstream=upstream)


def spark_application(context: RenderContext, step: str, params: BaseModel) -> dict[str, Any]:
    settings = context.settings
    spark = settings.spark
    on_operator = SparkRuntime(master=_IN_CLUSTER_MASTER, driver_host=spark.driver_host, s3=spark.s3)
    request = step_request(params, (), context.runtime(spark=on_operator), context.run_name)
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": _metadata(context, step),
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": context.image(step),
            "imagePullPolicy": settings.image_pull_policy,
            "sparkVersion": spark.spark_version,
            "mainApplicationFile": f"local://{settings.steps_main_file}",
            "arguments": step_arguments(step, request, context.result_path(step)),
            "restartPolicy": {"type": "Never"},
            "sparkConf": _spark_work_volume(context),
            "driver": {
                **_spark_pod(context),
                **_cores(spark.driver_cores, spark.driver_core_request),
                "memory": spark.driver_memory,
            },
            "executor": {
                **_spark_pod(context),
                **_cores(spark.executor_cores, spark.executor_core_request),
                "memory": spark.executor_memory,
                "instances": spark.executor_instances,
            },
        },
    }


def ray_job(
    context: RenderContext, step: str, params: BaseModel, upstream: Sequence[str], workers: int
) -> dict[str, Any]:
    settings = context.settings
    ray = settings.ray
    request = step_request(params, upstream, context.runtime(ray_address="auto"), context.run_name)
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": _metadata(context, step),
        "spec": {
            # The entrypoint is a shell command line, so every word is quoted. The upstream result Argo
            # splices into the request is JSON of paths, counts and allow-listed names: it holds no "'".
            "entrypoint": shlex.join(step_command(step, request, context.result_path(step))),
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 600,
            "activeDeadlineSeconds": settings.active_deadline_seconds,
            "backoffLimit": 0,
            "rayClusterSpec": {
                "rayVersion": ray.ray_version,
                # Ray's head requires a token of every client, the job submitter and the workers included;
                # KubeRay makes one per cluster, keeps it in a Secret and gives it to each pod it creates.
                "authOptions": {"mode": "token"},
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": _ray_pod(context, step, "ray-head", ray.head),
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "train",
                        "replicas": workers,
                        "minReplicas": workers,
                        "maxReplicas": workers,
                        "rayStartParams": {},
                        "template": _ray_pod(context, step, "ray-worker", ray.worker),
                    }
                ],
            },
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes shared sub-objects out in full: a manifest read by people and operators has no YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _resource_template(
    name: str, manifest: dict[str, Any], success: str, failure: str, *, upstream: Sequence[str]
) -> Resource:
    return Resource(
        name=name,
        inputs=upstream_inputs(upstream),
        action="create",
        set_owner_reference=True,
        manifest=yaml.dump(manifest, Dumper=_PlainDumper, sort_keys=False, width=1_000_000),
        success_condition=success,
        failure_condition=failure,
    )


def _metadata(context: RenderContext, step: str) -> dict[str, Any]:
    return {"name": run_name(step, f"{context.run_name}/{step}"), "labels": context.labels}


def _work_volume(context: RenderContext) -> dict[str, Any]:
    return {"name": WORK_VOLUME, "persistentVolumeClaim": {"claimName": context.settings.work_volume_claim}}


def _spark_pod(context: RenderContext) -> dict[str, Any]:
    """Pod settings shared by the Spark driver and executors.

    The store's keys come from a Secret through ``envSecretKeyRefs``, which spark-submit itself turns into the
    pods' ``secretKeyRef`` variables: no mutating webhook is needed, unlike the ``env`` field.
    """
    spark = context.settings.spark
    pod: dict[str, Any] = {"serviceAccount": spark.service_account, "labels": context.labels}
    if spark.s3_credentials_secret is not None:
        pod["envSecretKeyRefs"] = {
            variable: {"name": spark.s3_credentials_secret, "key": variable} for variable in S3_CREDENTIAL_VARIABLES
        }
    return pod


def _spark_work_volume(context: RenderContext) -> dict[str, str]:
    """The work claim mounted in the driver and executors by Spark's own volume settings.

    The SparkApplication's ``volumes`` and ``volumeMounts`` fields reach the pods only through spark-operator's
    mutating webhook (without it, the driver starts with no /work and the step finds nothing); these
    ``spark.kubernetes.*.volumes`` settings are applied by spark-submit and the driver themselves.
    """
    claim = context.settings.work_volume_claim
    conf: dict[str, str] = {}
    for role in ("driver", "executor"):
        prefix = f"spark.kubernetes.{role}.volumes.persistentVolumeClaim.{WORK_VOLUME}"
        conf |= {f"{prefix}.options.claimName": claim, f"{prefix}.mount.path": WORK_MOUNT}
    return conf


def _cores(cores: int, request: str | None) -> dict[str, Any]:
    """Spark's cores (its task slots), and the CPU the pod requests when that is to be smaller."""
    return {"cores": cores} if request is None else {"cores": cores, "coreRequest": request}


def _ray_pod(context: RenderContext, step: str, container: str, resources: StepResources) -> dict[str, Any]:
    limits = {"cpu": resources.cpu, "memory": resources.memory}
    return {
        "metadata": {"labels": context.labels},
        "spec": {
            "serviceAccountName": context.settings.service_account,
            "containers": [
                {
                    "name": container,
                    "image": context.image(step),
                    "imagePullPolicy": context.settings.image_pull_policy,
                    "resources": {"requests": limits, "limits": limits},
                    "volumeMounts": [{"name": WORK_VOLUME, "mountPath": WORK_MOUNT}],
                }
            ],
            "volumes": [_work_volume(context)],
        },
    }
