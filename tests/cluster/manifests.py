"""The service's ``deploy/`` overlays and a GitOps repository made by ``mlops-gitops gitops init``, applied
server-side, so the real apiserver's admission, CRD schemas and RBAC judge every object. The ``deploy/``
overlays are stored (the service's namespace, account and config are used by level 2); the Argo CD objects and
the model server's overlays are applied as a server-side dry run, judged the same way but left for Argo CD.

Namespaces go first (an overlay names its own namespace but does not create it). Workloads (Deployments and
the like) are judged by a server-side dry run and not stored: on the run's real node they would start pods of
images it does not have (the overlays name a registry's) on cores the pipelines need. The work-volume claim that
``deploy/`` ships is given a volume here, as a cluster administrator would: the run has no storage provisioner,
so it is a directory of the run's own on the node (one node: ReadWriteMany holds).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.kube import Kube, wait_for
from tests.upstream import REPO_ROOT

DEPLOY_OVERLAYS = ("dev", "prod")
GITOPS_OVERLAYS = ("staging", "production")


def _build(kube: Kube, directory: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(kube.kubectl("kustomize", str(directory))) if doc]


def _ensure_namespaces(kube: Kube, objects: list[dict[str, Any]]) -> None:
    names = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")})
    kube.apply(
        "\n---\n".join(
            yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}) for n in names
        )
    )


WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"})


def _apply_objects(kube: Kube, objects: list[dict[str, Any]], *, dry_run: bool = False) -> list[str]:
    """Store the objects, except workloads (and everything with ``dry_run``), which the apiserver only judges."""
    _ensure_namespaces(kube, objects)
    if dry_run:
        kube.apply(yaml.safe_dump_all(objects), dry_run=True)
        return [
            f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']} (server-side dry run)"
            for o in objects
        ]
    stored = [o for o in objects if o["kind"] not in WORKLOADS]
    judged = [o for o in objects if o["kind"] in WORKLOADS]
    if stored:
        kube.apply(yaml.safe_dump_all(stored))
    if judged:
        kube.apply(yaml.safe_dump_all(judged), dry_run=True)
    return [
        f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        + (" (server-side dry run)" if o["kind"] in WORKLOADS else "")
        for o in objects
    ]


def gitops_repository(directory: Path) -> Path:
    """The GitOps template as a user gets it: ``mlops-gitops gitops init``."""
    served = ["--model-name", "churn-xgb", "--feature-service", "churn_model", "--entity-key", "customer_id"]
    init = [sys.executable, "-m", "mlops_gitops", "gitops", "init", str(directory), *served]
    subprocess.run(init, check=True, capture_output=True)
    return directory


def apply_all(kube: Kube, work: Path) -> dict[str, list[str]]:
    """Apply everything; returns ``kind/namespace/name`` of each object, by source."""
    applied: dict[str, list[str]] = {}
    for overlay in DEPLOY_OVERLAYS:
        applied[f"deploy/overlays/{overlay}"] = _apply_objects(
            kube, _build(kube, REPO_ROOT / "deploy" / "overlays" / overlay)
        )
    # Judged, not stored: Argo CD's controller would act on stored Applications (they name example URLs), and the
    # model server's objects are Argo CD's to create.
    applied["deploy/argocd"] = _apply_objects(kube, _build(kube, REPO_ROOT / "deploy" / "argocd"), dry_run=True)
    gitops = gitops_repository(work / "gitops")
    for overlay in GITOPS_OVERLAYS:
        applied[f"gitops overlays/{overlay}"] = _apply_objects(
            kube, _build(kube, gitops / "overlays" / overlay), dry_run=True
        )
    gitops_argocd = [
        doc for p in sorted((gitops / "argocd").glob("*.yaml")) for doc in yaml.safe_load_all(p.read_text()) if doc
    ]
    applied["gitops argocd/"] = _apply_objects(kube, gitops_argocd, dry_run=True)
    return applied


def provide_volume(kube: Kube, namespace: str, claim: str, directory: Path) -> None:
    """A volume in ``directory`` bound to ``claim`` (the work volume's, the service's ledger's), then wait for
    Bound.

    The pods run as the image's unprivileged user, and a hostPath volume takes no fsGroup: the directory is
    writable by all (sticky, like /tmp), which is fine for a throwaway directory of the run's.
    """
    directory.mkdir(parents=True)
    directory.chmod(0o1777)
    requested = kube.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"cluster-test-{namespace}-{claim}"},
        "spec": {
            "capacity": {"storage": requested["spec"]["resources"]["requests"]["storage"]},
            "accessModes": requested["spec"]["accessModes"],  # one node: ReadWriteMany holds too
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": requested["spec"].get("storageClassName") or "",
            "claimRef": {"namespace": namespace, "name": claim},
            "hostPath": {"path": str(directory), "type": "Directory"},
        },
    }
    kube.apply(yaml.safe_dump(volume))

    def bound() -> bool | None:
        phase = kube.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")["status"].get("phase")
        return True if phase == "Bound" else None

    wait_for(f"claim {namespace}/{claim} Bound", bound, timeout=60)
