"""The service itself in the cluster, end to end: a signed push to its pod becomes a retrain and a staging commit.

The service runs as ``deploy/overlays/dev`` deploys it: its Deployment (probes, security context, the projected
token and CA), ServiceAccount, Role and SQLite ledger on its own claim. A kustomize overlay of the run's, on top
of that one, changes only what an operator sets per cluster: the image (the project image this run built and
imported, so never pulled), and the ConfigMap with this run's config. That config is the deployed one, with
what this cluster differs in:

- ``workflows.argo``: the settings the pipelines ran with at level 3 (argo-server on the node's address, the
  node's sizes, the S3 store and the shared Feast store), its token still the pod's projected one;
- ``workflows.code_repos`` and ``listeners.webhooks.clone_urls``: the run's HTTPS git host
  (``tests.cluster.code_host``), which serves the repository the deployed ``retrain-on-push`` rule watches;
- ``gitops.repo_url``: the repository Argo CD syncs, and ``gitops.argocd_refresh`` on, through the projected
  token and CA (``deploy/argocd`` grants the refresh);
- the registry watcher off: the production promotions that follow are made from the host, by alias moves, and
  one writer per promotion keeps their timings apart.

The Secrets the Deployment reads are created as an operator creates them: the GitHub webhook secret, the status
API's read token and the git token (the ``git://`` remote ignores it). The harness then pushes a commit that
changes the model's code to the served repository and sends GitHub's signed push webhook, built from that push,
to the pod. From there everything is the service's own: it verifies and stores the delivery, the rule matches,
it submits ``retrain`` through argo-server with its own token (Argo runs the repository's tests and KubeRay's
pods train), polls the run to its end, and the rule's ``then`` commits the promoted version to staging and asks
Argo CD to refresh. The harness only watches, through the status API with the read token, and checks what came
out: the workflow Succeeded in Argo, MLflow holds the version the commit names, trained from the pushed commit.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml
from mlflow import MlflowClient

from devtools.devstack.git_payloads import Push, github_payload
from devtools.devstack.senders import github_headers
from mlops_gitops.settings import load_settings
from tests.cluster.code_host import CodeHost, push_change
from tests.cluster.execution import RUN_TIMEOUT, RunFailedError, run_pods, step_report
from tests.cluster.kube import Kube, WaitTimeoutError, wait_for
from tests.cluster.manifests import provide_volume
from tests.cluster.network import NODE_IP
from tests.cluster.pipelines import configmap_data
from tests.cluster.promotions import MODEL_NAME
from tests.upstream import REPO_ROOT
from triggers.ledger.records import TERMINAL
from workflows.settings import ArgoSettings
from workflows.steps.model_registry import TAG_GIT_SHA

NAMESPACE = "mlops-gitops-dev"
DEPLOYMENT = "mlops-gitops"
SELECTOR = "app.kubernetes.io/component=service"
PORT = 8000
LEDGER_CLAIM = "mlops-gitops-ledger"
DEPLOYED_IMAGE = "ghcr.io/example/mlops-gitops"  # as deploy/base names it
# Where deploy/base/deployment.yaml projects the ServiceAccount's token and the cluster's CA.
PROJECTED = "/var/run/secrets/mlops-gitops/argo"
ROLLOUT_TIMEOUT = 300.0
CHANGED_FILE = "src/training/xgb_model.py"


@dataclass(frozen=True)
class InClusterService:
    pod: str
    url: str  # http://POD_IP:8000, as the Service's endpoint lists it
    webhook_secret: str
    read_token: str


@dataclass(frozen=True)
class Promoted:
    """What the service committed to staging after the retrain of a push, and how it got there."""

    commit: str
    version: str
    report: dict[str, Any]


def run_config(deployed: str, *, pipelines: ArgoSettings, code: CodeHost, gitops_url: str) -> dict[str, Any]:
    """The deployed ``config.yaml`` with what this cluster differs in (see the module's docstring)."""
    config: dict[str, Any] = copy.deepcopy(yaml.safe_load(deployed))
    argo = pipelines.model_dump(mode="json", exclude={"token", "token_file", "namespace"})
    port = urlsplit(pipelines.server_url).port
    argo["server_url"] = f"http://{NODE_IP}:{port}"  # argo-server listens on every address of the host
    config["workflows"]["argo"] = {**config["workflows"]["argo"], **argo}
    config["workflows"]["code_repos"] = [code.churn.url]
    config["listeners"]["registry_watcher"]["enabled"] = False
    config["listeners"]["webhooks"] = {"clone_urls": {"github": code.clone_url_template}}
    config["gitops"]["repo_url"] = gitops_url
    config["gitops"]["argocd_refresh"] = {**config["gitops"]["argocd_refresh"], "enabled": True}
    return config


def write_overlay(directory: Path, config: dict[str, Any], rules: str, image: str) -> Path:
    """A kustomize overlay over ``deploy/overlays/dev`` with the run's image and ConfigMap; checked first by the
    service's own settings loader, as the pod will load it."""
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    (directory / "rules.yaml").write_text(rules)
    loaded = load_settings(directory / "config.yaml")
    assert loaded.gitops.argocd_refresh.enabled, "the run's config turns the refresh on"
    name, _, tag = image.rpartition(":")
    never_pulled = [{"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO_ROOT / "deploy" / "overlays" / "dev", directory)],
        "images": [{"name": DEPLOYED_IMAGE, "newName": name, "newTag": tag}],
        "configMapGenerator": [
            {"name": "mlops-gitops-config", "behavior": "replace", "files": ["config.yaml", "rules.yaml"]}
        ],
        "patches": [{"target": {"kind": "Deployment", "name": DEPLOYMENT}, "patch": json.dumps(never_pulled)}],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def create_secrets(kube: Kube) -> tuple[str, str]:
    """The Secrets the Deployment reads, as an operator creates them; the webhook secret and the read token."""
    webhook_secret, read_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    values = {
        "mlops-gitops-webhooks": {"github": json.dumps([webhook_secret])},
        "mlops-gitops-api": {"read": json.dumps([read_token])},
        "mlops-gitops-git": {"token": secrets.token_urlsafe(32)},
    }
    manifests = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE}, "stringData": data}
        for name, data in values.items()
    ]
    kube.apply(yaml.safe_dump_all(manifests))
    return webhook_secret, read_token


def _ready_pod(kube: Kube) -> dict[str, Any] | None:
    deployment = kube.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}")
    status = deployment.get("status") or {}
    if status.get("observedGeneration") != deployment["metadata"]["generation"]:
        return None
    if not status.get("updatedReplicas") == status.get("availableReplicas") == status.get("replicas") == 1:
        return None
    pods = kube.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={SELECTOR}")["items"]
    ready = [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    return ready[0] if len(ready) == 1 else None


def _pod_logs(kube: Kube) -> str:
    try:
        return kube.kubectl("logs", "-n", NAMESPACE, f"deployment/{DEPLOYMENT}", "--tail=60")
    except RuntimeError as e:
        return str(e)


def deploy_service(
    kube: Kube, work: Path, *, image: str, pipelines: ArgoSettings, code: CodeHost, gitops_url: str
) -> InClusterService:
    """Deploy the service with the run's overlay and wait until its pod is Ready (its ledger open, listeners up)."""
    deployed = configmap_data(kube, NAMESPACE)
    config = run_config(deployed["config.yaml"], pipelines=pipelines, code=code, gitops_url=gitops_url)
    overlay = write_overlay(work / "service-overlay", config, deployed["rules.yaml"], image)
    provide_volume(kube, NAMESPACE, LEDGER_CLAIM, work / "volumes" / "ledger")
    webhook_secret, read_token = create_secrets(kube)
    kube.apply(kube.kubectl("kustomize", str(overlay)))
    try:
        pod = wait_for(f"deployment {NAMESPACE}/{DEPLOYMENT} Ready", lambda: _ready_pod(kube), ROLLOUT_TIMEOUT)
    except WaitTimeoutError as e:
        raise WaitTimeoutError(f"{e}; the service's log: {_pod_logs(kube)}") from e
    return InClusterService(
        pod=pod["metadata"]["name"],
        url=f"http://{pod['status']['podIP']}:{PORT}",
        webhook_secret=webhook_secret,
        read_token=read_token,
    )


def send_push(service: InClusterService, push: Push) -> tuple[str, float]:
    """GitHub's signed push webhook for ``push``, to the pod; the id of the event it stored, and when."""
    body = json.dumps(github_payload(push)).encode()
    headers = github_headers(body, service.webhook_secret, delivery=str(uuid.uuid4()))
    answer = requests.post(f"{service.url}/webhooks/github", data=body, headers=headers, timeout=30)
    if answer.status_code != 202:
        raise AssertionError(f"the service answered the push {answer.status_code}: {answer.text}")
    (event_id,) = answer.json()["event_ids"]
    return str(event_id), time.monotonic()


def follow_event(kube: Kube, service: InClusterService, event_id: str, accepted: float) -> dict[str, Any]:
    """Poll the status API until the event is settled; its summary, and when each action first showed each status."""
    headers = {"Authorization": f"Bearer {service.read_token}"}
    seen: dict[str, float] = {}
    last: dict[str, Any] = {}

    def settled() -> dict[str, Any] | None:
        answer = requests.get(f"{service.url}/events/{event_id}", headers=headers, timeout=10)
        answer.raise_for_status()
        last.update(answer.json())
        for action in last["actions"]:
            seen.setdefault(f"{action['kind']} {action['status']}", round(time.monotonic() - accepted, 1))
        return last if last["state"] in [str(state) for state in TERMINAL] else None

    try:
        summary: dict[str, Any] = wait_for(f"event {event_id} settled", settled, RUN_TIMEOUT, interval=2)
    except WaitTimeoutError as e:
        raise WaitTimeoutError(f"{e}; the event: {last}; the service's log: {_pod_logs(kube)}") from e
    return {"summary": summary, "seconds_after_webhook": seen}


def _action(summary: dict[str, Any], kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        action for action in summary["actions"] if action["kind"] == kind and action["status"] == "succeeded"
    ]
    if len(found) != 1:
        raise RunFailedError(f"the event did not end with one succeeded {kind} action: {summary}")
    return found[0]


def check_outcome(kube: Kube, summary: dict[str, Any], push: Push, tracking_uri: str) -> dict[str, Any]:
    """The retrain the service ran, and the version its staging commit names, checked in Argo and MLflow."""
    if summary["state"] != "done":
        raise RunFailedError(f"the push's event ended {summary['state']}: {summary}")
    run = _action(summary, "workflow")["target"]
    (commit,) = _action(summary, "gitops-promotion")["detail"]["commits"]
    if commit["environment"] != "staging" or not commit["sha"]:
        raise RunFailedError(f"the retrain's promotion committed {commit}, not a new staging commit")
    workflow = kube.get(f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{run}")
    if (workflow.get("status") or {}).get("phase") != "Succeeded":
        raise RunFailedError(f"the service's run {run} is {workflow.get('status')}")
    pods = [p["metadata"]["name"] for p in run_pods(kube, NAMESPACE, run)]
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version(MODEL_NAME, str(commit["version"]))
    trained_from = client.get_run(str(version.run_id)).data.tags.get(TAG_GIT_SHA)
    if trained_from != push.after:
        raise RunFailedError(f"version {version.version} was trained from {trained_from}, not the push's {push.after}")
    return {
        "workflow": run,
        "steps": step_report(kube, NAMESPACE, workflow),
        "ray_pods": [pod for pod in pods if "-head-" in pod or "-worker-" in pod],
        "registered": {"model": version.name, "version": version.version, "run_id": version.run_id},
        "trained_commit": trained_from,
        "staging_commit": commit["sha"],
    }


def push_to_the_service(
    kube: Kube,
    work: Path,
    *,
    image: str,
    pipelines: ArgoSettings,
    code: CodeHost,
    gitops_url: str,
    tracking_uri: str,
) -> Promoted:
    """Deploy the service, push a change of the model's code, and follow it to the staging commit."""
    started = time.monotonic()
    service = deploy_service(kube, work, image=image, pipelines=pipelines, code=code, gitops_url=gitops_url)
    deployed_in = round(time.monotonic() - started, 1)
    push = push_change(
        code.churn,
        work / "churn-ml-change",
        CHANGED_FILE,
        "\n# Retrained on push.\n",
        "Note that pushes retrain the model",
    )
    event_id, accepted = send_push(service, push)
    followed = follow_event(kube, service, event_id, accepted)
    outcome = check_outcome(kube, followed["summary"], push, tracking_uri)
    report = {
        "pod": service.pod,
        "seconds_to_ready": deployed_in,
        "push": {"repository": push.repo, "before": push.before, "after": push.after, "changed": CHANGED_FILE},
        "event": event_id,
        "actions": [
            {key: action[key] for key in ("rule", "kind", "status", "target")}
            for action in followed["summary"]["actions"]
        ],
        "seconds_after_webhook": followed["seconds_after_webhook"],
        **outcome,
    }
    return Promoted(commit=outcome["staging_commit"], version=outcome["registered"]["version"], report=report)
