"""The CustomResourceDefinitions the manifests and workflows use, from the pinned upstream modules.

Argo Workflows' full CRDs (with their schemas, so the apiserver prunes and validates like a production
install), the Argo CD CRDs the GitOps template and deploy/argocd use, and the spark-operator and KubeRay CRDs,
so the SparkApplication and RayJob a cluster-mode workflow creates are known kinds with real schemas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cluster.kube import Kube, wait_for
from tests.upstream import module_dir

# Argo's full CRDs are large; a busy machine takes a while to serve them.
ESTABLISH_TIMEOUT = 180.0

# (upstream, directory in its module, file-name pattern)
CRD_SOURCES = (
    ("ARGO_WORKFLOWS", "manifests/base/crds/full", "argoproj.io_*.yaml"),
    ("ARGO_CD", "manifests/crds", "*-crd.yaml"),
    ("SPARK_OPERATOR", "config/crd/bases", "sparkoperator.k8s.io_*.yaml"),  # the controller watches every kind
    ("KUBERAY", "config/crd/bases", "ray.io_*.yaml"),
)


def crd_files() -> list[Path]:
    files: list[Path] = []
    for name, directory, pattern in CRD_SOURCES:
        found = sorted((module_dir(name) / directory).glob(pattern))
        if not found:
            raise FileNotFoundError(f"no {pattern} in {name}'s {directory}")
        files += found
    return files


def install_crds(kube: Kube) -> list[str]:
    """Apply every CRD and wait until each is Established; returns their names."""
    kube.apply(crd_files())

    def established() -> list[str] | None:
        crds = kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
        waiting = [c["metadata"]["name"] for c in crds if not _is_established(c)]
        return None if waiting else sorted(c["metadata"]["name"] for c in crds)

    return wait_for("the CRDs to be Established", established, timeout=ESTABLISH_TIMEOUT)


def _is_established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
