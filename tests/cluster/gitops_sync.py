"""Argo CD syncs what the service commits, and the model server it deploys serves the promoted versions.

The service's config for this run names the served repository (``gitops.repo_url``, pushed to by the writer),
and its ``gitops.scaffold`` names the same URL for Argo CD, the run's apiserver as the destination, no HPA (there
is no metrics API here), the model server's image as the run built and imported it, and the Feast store shared
with the pipelines (``tests.cluster.feature_store``). ``mlops-gitops gitops init --config`` writes the repo from
that config, so the ``Application``s and ``AppProject`` applied are exactly the files in its ``argocd/``.

What is measured, each rollout ending when the Application reads Synced at the commit and Healthy, and the
model server's Deployment has rolled out a ReplicaSet whose pod template takes its environment from the
ConfigMap holding the expected ``MODEL_VERSION``, with its pods Ready and older ReplicaSets at zero:

1. the first sync of both environments after the Applications are created. Version 0 of the fresh repository
   names no model, so its pods never turn Ready: the sync is awaited, not health;
2. a promotion to staging by the service running in the cluster, after the retrain of a push
   (``tests.cluster.service_in_cluster``), with ``gitops.argocd_refresh`` on: right after its push, the service
   sets Argo CD's refresh annotation on the Application (with its own account's token and the Role that
   ``deploy/argocd`` ships), so the controller looks at git at once; timed from when its status API first
   shows the promotion done;
3. a promotion to production when ``champion`` moves, found by Argo CD's own polling of git;
4. a second production promotion, with the refresh annotation.

The production promotions are made from the host with the service's rules, action and writer, and timed from
the alias move, the commit's own time (MLflow lookups, git push) given apart.
Then each environment's model server answers ``/predict`` to a client pod through its Service's DNS name: the
version it names is the promoted one, and its scores are that version's (loaded here through pyfunc) on the
features ``data-etl`` materialized, as read back from the online store.

The pods run on the run's real node, so "Healthy" rests on the real controllers' view (the Deployment
controller's available and updated replicas, the ReplicaSets), on Argo CD's own health checks of the Deployment
and Service, and on the model server's own readiness probe, which turns ready only once the model version is
loaded from the in-cluster MLflow and the feature service is found in the shared Feast registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gitops.settings import GitOpsSettings
from mlops_gitops.settings import load_settings
from tests.cluster.argocd import ArgoCd
from tests.cluster.feature_store import FEATURE_SERVICE, SharedStore
from tests.cluster.gitserver import BRANCH, GitServer, push_initial
from tests.cluster.kube import Kube, WaitTimeoutError, wait_for
from tests.cluster.probe import run_in_pod
from tests.cluster.processes import Supervisor
from tests.cluster.promotions import ENTITY_KEY, MODEL_NAME, Registry
from tests.cluster.service_in_cluster import Promoted
from tests.upstream import REPO_ROOT

# environment -> (its Application, its namespace), as the GitOps template names them
ENVIRONMENTS = {
    "staging": ("model-server-staging", "ml-staging"),
    "production": ("model-server-production", "ml-production"),
}
DEPLOYMENT = "model-server"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
FIRST_SYNC_TIMEOUT = 300.0
# Argo CD compares with git every 120 s plus up to 60 s of jitter by default, and the repo-server keeps a branch's
# resolved commit for 3 min (--revision-cache-expiration), so a poll may still see the commit before; room on top.
POLLING_TIMEOUT = 420.0
# A new model server pod loads MLflow, Feast and the model before it is Ready: a minute or more on a busy node.
REFRESH_TIMEOUT = 240.0
# The service's Deployment in the dev overlay (applied by level 1): the account whose token the service holds.
SERVICE_NAMESPACE, SERVICE_ACCOUNT = "mlops-gitops-dev", "mlops-gitops"


@dataclass(frozen=True)
class Rollout:
    seconds: float
    commit: str
    replicaset: str
    configmap: str
    model_version: str
    pods: list[str]


def write_service_config(
    path: Path, server: GitServer, destination: str, checkout: Path, image: str, shared: SharedStore
) -> GitOpsSettings:
    """The service's config for this run: its GitOps repo, and what ``gitops init`` writes for Argo CD."""
    name, _, tag = image.rpartition(":")
    scaffold = {
        "argocd_repo_url": server.url,
        "destination_server": destination,
        "autoscaler": False,
        "model_name": MODEL_NAME,
        "feature_service": FEATURE_SERVICE,
        "entity_key": ENTITY_KEY,
        "model_server_image": name,
        "model_server_tag": tag,
        "feature_store": shared.scaffold().model_dump(mode="json"),
    }
    config = {"gitops": {"repo_url": server.url, "branch": BRANCH, "work_dir": str(checkout), "scaffold": scaffold}}
    path.write_text(yaml.safe_dump(config))
    return load_settings(path).gitops


def scaffold_repository(directory: Path, config: Path) -> None:
    """``mlops-gitops gitops init DIR --config FILE``, as an operator runs it."""
    subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "gitops", "init", str(directory), "--config", str(config)],
        check=True,
        capture_output=True,
    )


def application(kube: Kube, argocd: ArgoCd, name: str) -> dict[str, Any]:
    return kube.get(f"/apis/argoproj.io/v1alpha1/namespaces/{argocd.namespace}/applications/{name}")


def _synced_and_healthy(app: dict[str, Any], commit: str) -> bool:
    status = app.get("status") or {}
    sync, health = status.get("sync") or {}, status.get("health") or {}
    return sync.get("status") == "Synced" and sync.get("revision") == commit and health.get("status") == "Healthy"


def _describe(app: dict[str, Any]) -> str:
    status = app.get("status") or {}
    conditions = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in status.get("conditions") or [])
    operation = (status.get("operationState") or {}).get("message", "")
    return (
        f"sync {status.get('sync', {}).get('status')} at {status.get('sync', {}).get('revision')}, "
        f"health {status.get('health', {}).get('status')} {status.get('health', {}).get('message', '')}, "
        f"operation: {operation}; conditions: {conditions or 'none'}"
    )


def rolled_out(kube: Kube, namespace: str, version: str) -> tuple[str, str, list[str]] | None:
    """The Deployment's current ReplicaSet, its ConfigMap and Ready pods, once it runs ``version`` alone."""
    deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{DEPLOYMENT}")
    status, wanted = deployment.get("status") or {}, deployment["spec"].get("replicas", 1)
    if status.get("observedGeneration") != deployment["metadata"]["generation"]:
        return None
    if not status.get("updatedReplicas") == status.get("availableReplicas") == status.get("replicas") == wanted:
        return None
    revision = deployment["metadata"].get("annotations", {}).get(REVISION_ANNOTATION)
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    sets = kube.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets?labelSelector={selector}")["items"]
    current = [s for s in sets if s["metadata"].get("annotations", {}).get(REVISION_ANNOTATION) == revision]
    if len(current) != 1 or any(s["status"].get("replicas", 0) for s in sets if s not in current):
        return None
    replicaset = current[0]
    sources = replicaset["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
    configmap = next(s["configMapRef"]["name"] for s in sources if "configMapRef" in s)
    data = kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{configmap}").get("data", {})
    if data.get("MODEL_VERSION") != version:
        return None
    template_hash = replicaset["metadata"]["labels"]["pod-template-hash"]
    pods = kube.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=pod-template-hash={template_hash}")["items"]
    ready = [
        p["metadata"]["name"]
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
    ]
    return (replicaset["metadata"]["name"], configmap, ready) if len(ready) == wanted else None


def wait_for_sync(kube: Kube, argocd: ArgoCd, environment: str, commit: str, started: float) -> dict[str, Any]:
    """Wait until ``environment``'s Application reads Synced at ``commit``; its health then, and the seconds."""
    name, _ = ENVIRONMENTS[environment]

    def synced() -> dict[str, Any] | None:
        status = application(kube, argocd, name).get("status") or {}
        sync = status.get("sync") or {}
        return status if sync.get("status") == "Synced" and sync.get("revision") == commit else None

    status = wait_for(f"{name} Synced at {commit[:12]}", synced, FIRST_SYNC_TIMEOUT)
    health = status.get("health") or {}
    return {"seconds": round(time.monotonic() - started, 1), "commit": commit, "health": health.get("status")}


# A client in the cluster: POST /predict to the environment's Service by its DNS name, print the answer.
_PREDICT = """
import json, sys, urllib.request
url, ids = sys.argv[1], json.loads(sys.argv[2])
request = urllib.request.Request(url, data=json.dumps({"entity_ids": ids}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=60) as answer:
    print(json.dumps(json.load(answer)))
"""


def predict(kube: Kube, image: str, environment: str, entity_ids: list[int]) -> dict[str, Any]:
    """``POST /predict`` to ``environment``'s model server through its Service, from a pod in the namespace."""
    _, namespace = ENVIRONMENTS[environment]
    url = f"http://{DEPLOYMENT}.{namespace}.svc/predict"
    script = f"import sys; sys.argv = ['predict', {url!r}, {json.dumps(entity_ids)!r}]\n{_PREDICT}"
    answer: dict[str, Any] = json.loads(run_in_pod(kube, namespace, image, f"predict-{environment}", script))
    return answer


def check_served(
    kube: Kube, image: str, models: Registry, environment: str, version: str, online: pd.DataFrame
) -> dict[str, Any]:
    """The environment's model server answers with ``version``, and that version's scores of the online features."""
    customers = [int(c) for c in online[ENTITY_KEY]]
    answer = predict(kube, image, environment, customers)
    expected = models.expected_scores(version, online)
    served = [float(p["prediction"]) for p in answer["predictions"]]
    if answer["model_version"] != version or [p["entity_id"] for p in answer["predictions"]] != customers:
        raise AssertionError(f"{environment} answered {answer}, not version {version} for {customers}")
    if any(abs(a - b) > 1e-6 for a, b in zip(served, expected, strict=True)):
        raise AssertionError(f"{environment} scored {served}; version {version} scores {expected}")
    return {"model_version": answer["model_version"], "model_uri": answer["model_uri"], "scores": served}


def wait_for_rollout(
    kube: Kube,
    argocd: ArgoCd,
    supervisor: Supervisor,
    environment: str,
    commit: str,
    version: str,
    timeout: float,
    started: float | None = None,
) -> Rollout:
    """Wait until ``environment`` runs ``version`` from ``commit``; seconds are counted from ``started`` (now)."""
    started = time.monotonic() if started is None else started
    name, namespace = ENVIRONMENTS[environment]
    last: dict[str, Any] = {}

    def done() -> tuple[str, str, list[str]] | None:
        supervisor.check_alive()
        last["app"] = application(kube, argocd, name)
        return rolled_out(kube, namespace, version) if _synced_and_healthy(last["app"], commit) else None

    try:
        replicaset, configmap, pods = wait_for(f"{name} Synced and Healthy at {commit[:12]}", done, timeout)
    except WaitTimeoutError as e:
        raise WaitTimeoutError(f"{e}; Application: {_describe(last.get('app', {}))}") from e
    return Rollout(
        seconds=round(time.monotonic() - started, 1),
        commit=commit,
        replicaset=replicaset,
        configmap=configmap,
        model_version=version,
        pods=pods,
    )


def grant_refresh(kube: Kube, work: Path) -> Path:
    """What a cluster gives the service for ``gitops.argocd_refresh``: the Role ``deploy/argocd`` ships, and a
    token of the service's account in a file, as the kubelet projects it; returns the file."""
    shipped = yaml.safe_load_all(kube.kubectl("kustomize", str(REPO_ROOT / "deploy" / "argocd")))
    rbac = [o for o in shipped if o and o["kind"] in ("Role", "RoleBinding")]
    kube.apply(yaml.safe_dump_all(rbac))
    token_file = work / "service-account-token"
    token_file.write_text(kube.service_account_token(SERVICE_NAMESPACE, SERVICE_ACCOUNT))
    return token_file


def with_refresh(settings: GitOpsSettings, kube: Kube, token_file: Path) -> GitOpsSettings:
    """The service's settings with ``gitops.argocd_refresh`` on, against the run's apiserver."""
    refresh = settings.argocd_refresh.model_copy(
        update={"enabled": True, "api_server": kube.server, "token_file": token_file, "ca_file": kube.pki.ca_cert}
    )
    return settings.model_copy(update={"argocd_refresh": refresh})


def memory(pids: dict[str, int]) -> dict[str, dict[str, int]]:
    """Resident and peak resident memory of each program, in MiB, from /proc."""
    found: dict[str, dict[str, int]] = {}
    for name, pid in pids.items():
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        found[name] = {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}
    return found


def sync_and_promote(
    kube: Kube,
    argocd: ArgoCd,
    server: GitServer,
    supervisor: Supervisor,
    work: Path,
    *,
    models: Registry,
    image: str,
    shared: SharedStore,
    training: pd.DataFrame,
    online: pd.DataFrame,
    promote_staging: Callable[[], Promoted],
    results: dict[str, Any],
) -> None:
    """Everything of level 4 after Argo CD, the git server, MLflow and the online features are up; the figures go
    into ``results`` as they come, so a failure keeps what came before it.

    ``promote_staging`` makes the staging promotion (the service in the cluster, after a retrain) once both
    environments are synced and the refresh is granted.
    """
    config = work / "service-gitops.yaml"
    settings = write_service_config(config, server, argocd.cluster_server, work / "gitops-checkout", image, shared)
    repository = work / "gitops-scaffold"
    scaffold_repository(repository, config)
    initial = push_initial(repository, server)
    # The project first: an Application whose project does not exist yet is only reconciled again later.
    applied = sorted((repository / "argocd").glob("*.yaml"), key=lambda path: path.name != "project.yaml")
    created = time.monotonic()
    kube.apply(applied)
    results.update(applied=[str(p.relative_to(repository)) for p in applied], first_sync={})
    for environment in ENVIRONMENTS:
        results["first_sync"][environment] = wait_for_sync(kube, argocd, environment, initial, created)
    refreshing = with_refresh(settings, kube, grant_refresh(kube, work))
    retrained = promote_staging()
    results["service_in_cluster"] = retrained.report
    started = time.monotonic()
    rollout = wait_for_rollout(
        kube, argocd, supervisor, "staging", retrained.commit, retrained.version, REFRESH_TIMEOUT, started
    )
    results["staging_promotion_refresh_annotation"] = vars(rollout)
    first, second = models.register(training, rounds=[4, 16])
    results["registered_versions"] = [first, second]
    promotions = (
        (first, settings, "promotion_polling", POLLING_TIMEOUT),
        (second, refreshing, "promotion_refresh_annotation", REFRESH_TIMEOUT),
    )
    for version, service_settings, key, timeout in promotions:
        started = time.monotonic()
        commit = models.move_alias(version, service_settings)
        committed = round(time.monotonic() - started, 1)
        rollout = wait_for_rollout(kube, argocd, supervisor, "production", commit, version, timeout, started)
        results[key] = {**vars(rollout), "seconds_to_commit": committed}
    results["served"] = {
        "staging": check_served(kube, image, models, "staging", retrained.version, online),
        "production": check_served(kube, image, models, "production", second, online),
    }
    results["memory_mib"] = memory(argocd.pids)
