"""The service submits its three pipelines to argo-server and the real controller turns them into pods.

Submission goes through the service's own Argo backend (Hera's REST client) with the settings of the deployed
ConfigMap, the namespace and a TokenRequest token of the service's ServiceAccount, as the Deployment wires
them. Each pod the controller creates is compared with the template the service rendered for it: its image,
command, resources, service account and work volume, and it must be bound to the run's node. The sample runs
name repositories on git.example.com, which no pod can reach, so their first steps cannot succeed; level 2
proves only what the controller made of them (``tests.cluster.execution`` runs a pipeline to its end).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_gitops.settings import load_settings
from tests.cluster.kube import Kube, wait_for
from tests.workflows.pipeline_samples import SAMPLE_LABELS, SAMPLE_PARAMS
from workflows.argo.backend import ArgoBackend
from workflows.naming import run_name
from workflows.pipelines import build_workflow
from workflows.pipelines.context import WORK_VOLUME
from workflows.settings import ArgoSettings, StepResources
from workflows.trust import named_repositories

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"
MAIN = "main"
TEMPLATE_ENV = "ARGO_TEMPLATE"
POD_TIMEOUT = 120.0


class SpecMismatchError(AssertionError):
    """A pod the controller created differs from what the service rendered."""


SAMPLE_REPOS = sorted({repo for params in SAMPLE_PARAMS.values() for repo in named_repositories(params)})
"""The ML repositories the sample runs name: listed in ``workflows.code_repos``, as an operator lists the team's."""


@dataclass(frozen=True)
class Submitted:
    pipeline: str
    name: str
    templates: dict[str, dict[str, Any]]  # by template name, as the service rendered them
    task_templates: dict[str, str]  # DAG task -> template


def node_sizing(deployed: ArgoSettings) -> dict[str, Any]:
    """What the pipelines' pods ask for on this 2-core, 24 GiB node (the deployed defaults size a real cluster):
    three steps of three pipelines at once in 1.5 cores, one Spark executor and 1 GiB JVMs, Ray pods of a quarter
    core (a head and three workers fit beside the node's other pods).
    """
    half_core = StepResources(cpu="500m", memory="1Gi")
    return {
        "step_resources": half_core,
        "spark": deployed.spark.model_copy(
            update={
                "driver_cores": 1,
                "driver_core_request": "250m",
                "driver_memory": "1g",
                "executor_cores": 1,
                "executor_core_request": "250m",
                "executor_memory": "1g",
                "executor_instances": 1,
            }
        ),
        "ray": deployed.ray.model_copy(
            update={"head": StepResources(cpu="250m", memory="2Gi"), "worker": StepResources(cpu="250m", memory="2Gi")}
        ),
    }


def service_settings(
    configmap_data: dict[str, str], tmp: Path, *, server_url: str, namespace: str, token: str, image: str
) -> ArgoSettings:
    """The Argo settings the deployed service runs with: its ConfigMap, plus what the Deployment injects, with
    the image the run built (imported into the node, so never pulled) and pods sized for this machine.

    The token goes into a file, as the kubelet projects it into the pod, and ``token_file`` points there.
    """
    (tmp / "config.yaml").write_text(configmap_data["config.yaml"])
    (tmp / "rules.yaml").write_text(configmap_data["rules.yaml"])
    deployed = load_settings(tmp / "config.yaml").workflows.argo
    assert deployed.token_file is not None, "the deployed config reads the projected service-account token"
    token_file = tmp / "token"
    token_file.write_text(token)
    return deployed.model_copy(
        update={
            "server_url": server_url,
            "namespace": namespace,
            "token_file": token_file,
            "verify_tls": False,
            "image": image,
            "image_pull_policy": "Never",
            **node_sizing(deployed),
        }
    )


def submit_all(backend: ArgoBackend, settings: ArgoSettings) -> list[Submitted]:
    submitted: list[Submitted] = []
    for pipeline, params in SAMPLE_PARAMS.items():
        name = run_name(pipeline, f"cluster-test:{pipeline}")
        workflow = build_workflow(pipeline, params, run_name=name, labels=SAMPLE_LABELS, settings=settings)
        rendered = workflow.build().model_dump(mode="json", by_alias=True, exclude_none=True)
        backend.submit_workflow(workflow)
        templates = {t["name"]: t for t in rendered["spec"]["templates"]}
        tasks = {
            task["name"]: task["template"] for t in templates.values() for task in t.get("dag", {}).get("tasks", [])
        }
        submitted.append(Submitted(pipeline=pipeline, name=name, templates=templates, task_templates=tasks))
    return submitted


def _pods(kube: Kube, namespace: str, workflow: str) -> list[dict[str, Any]]:
    listing = kube.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={WORKFLOW_LABEL}%3D{workflow}")
    return list(listing["items"])


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in pod["spec"]["containers"] if c["name"] == name]
    (container,) = found
    return container


def _executed_template(pod: dict[str, Any]) -> dict[str, Any]:
    """The template as the controller resolved it for this pod (placeholders filled), from the executor's env."""
    containers = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
    values = [e["value"] for c in containers for e in c.get("env", []) if e["name"] == TEMPLATE_ENV]
    if not values:
        raise SpecMismatchError(f"pod {pod['metadata']['name']} carries no {TEMPLATE_ENV} for its executor")
    template: dict[str, Any] = json.loads(values[0])
    return template


def _expect(what: str, seen: Any, expected: Any) -> None:
    if seen != expected:
        raise SpecMismatchError(f"{what}: expected {expected!r}, the controller made {seen!r}")


def check_pod(
    pod: dict[str, Any], template: dict[str, Any], settings: ArgoSettings, kube: Kube, node: str
) -> dict[str, Any]:
    """Compare one pod with its rendered template; returns what the report lists for it."""
    spec = pod["spec"]
    where = f"pod {pod['metadata']['name']} ({template['name']})"
    _expect(f"{where} service account", spec.get("serviceAccountName"), settings.service_account)
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in spec.get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    main = _container(pod, MAIN)
    # The main container runs the template's command under the executor: argoexec emissary [options] -- COMMAND
    command = [*main.get("command", []), *main.get("args", [])]
    wrapped = command[command.index("--") + 1 :]
    if "container" in template:
        rendered = template["container"]
        _expect(f"{where} image", main["image"], rendered["image"])
        _expect(f"{where} command after the executor's wrapper", wrapped, rendered["command"])
        _expect(f"{where} resources", main.get("resources"), rendered["resources"])
        mounts = {m["name"]: m["mountPath"] for m in main.get("volumeMounts", [])}
        for mount in rendered.get("volumeMounts", []):
            _expect(f"{where} mount of {mount['name']}", mounts.get(mount["name"]), mount["mountPath"])
        _expect(f"{where} work volume claim", claims.get(WORK_VOLUME), settings.work_volume_claim)
    else:
        # A resource template: argoexec creates the manifest. It must be one the apiserver's CRD schema accepts.
        _expect(f"{where} action", wrapped[:3], ["argoexec", "resource", template["resource"]["action"]])
        manifest = _executed_template(pod)["resource"]["manifest"]
        kube.kubectl("create", "--dry-run=server", "-n", pod["metadata"]["namespace"], "-f", "-", stdin=manifest)
    _expect(f"{where} node", spec.get("nodeName"), node)
    return {
        "pod": pod["metadata"]["name"],
        "template": template["name"],
        "kind": "container" if "container" in template else "resource",
        "node": spec.get("nodeName"),
        "phase": pod.get("status", {}).get("phase"),
        "service_account": spec.get("serviceAccountName"),
        "image": main["image"],
        "volumes": claims,
    }


def check_workflow(kube: Kube, submitted: Submitted, settings: ArgoSettings, node: str) -> dict[str, Any]:
    """Wait until the controller runs the DAG with pods bound to the node, then check each pod.

    Proof of scheduling: the workflow is Running, each pod is a node of its status and bound to the run's node,
    and the DAG's later tasks have no node yet (they wait on their predecessors' results).
    """
    namespace = settings.namespace
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{submitted.name}"

    def scheduled() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        workflow = kube.get(path)
        status = workflow.get("status") or {}
        if status.get("phase") in ("Failed", "Error"):
            raise SpecMismatchError(f"workflow {submitted.name} {status['phase']}: {status.get('message')}")
        node_names = {n["name"] for n in (status.get("nodes") or {}).values()}
        pods = _pods(kube, namespace, submitted.name)
        ready = (
            status.get("phase") == "Running"
            and pods
            and all(p["metadata"]["annotations"].get(NODE_NAME_ANNOTATION) in node_names for p in pods)
            and all(p["spec"].get("nodeName") == node for p in pods)
        )
        return (workflow, pods) if ready else None

    workflow, pods = wait_for(f"{submitted.name} running with its pods", scheduled, POD_TIMEOUT)
    checked = []
    for pod in pods:
        checked.append(check_pod(pod, submitted.templates[_template_of(pod, submitted)], settings, kube, node))
    nodes = list(workflow["status"]["nodes"].values())
    started = {re.sub(r"\(\d+\)$", "", n["displayName"]) for n in nodes}
    return {
        "workflow": submitted.name,
        "accepted": True,
        "phase": workflow["status"]["phase"],
        "nodes": sorted(f"{n['displayName']} ({n['type']}): {n['phase']}" for n in nodes),
        "tasks_waiting_on_upstream": sorted(set(submitted.task_templates) - started),
        "pods": checked,
    }


def _template_of(pod: dict[str, Any], submitted: Submitted) -> str:
    """The rendered template of a pod, from its node name: "<workflow>.<task>", "(<attempt>)" after a retried task."""
    node_name = pod["metadata"]["annotations"][NODE_NAME_ANNOTATION]
    task = re.sub(r"\(\d+\)$", "", node_name.removeprefix(f"{submitted.name}."))
    return submitted.task_templates[task]


def configmap_data(kube: Kube, namespace: str) -> dict[str, str]:
    listing = kube.get(f"/api/v1/namespaces/{namespace}/configmaps")
    (found,) = [c for c in listing["items"] if c["metadata"]["name"].startswith("mlops-gitops-config")]
    return {key: str(value) for key, value in found["data"].items()}


def delete_runs(kube: Kube, namespace: str, names: list[str]) -> None:
    """Delete workflows as the cluster's admin (their pods go with them) and wait until their pods are gone."""
    for name in names:
        kube.request("DELETE", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{name}")

    def gone() -> bool | None:
        return None if any(_pods(kube, namespace, name) for name in names) else True

    wait_for("the deleted runs' pods to go", gone, POD_TIMEOUT)
