"""spark-operator and the KubeRay operator, built from their pinned modules, each as its own ServiceAccount.

Each operator runs as a process of the run, as the Argo controller does, with a TokenRequest token of the
ServiceAccount its upstream kustomize RBAC (``config/rbac`` of the pinned module) binds: the permissions the
operator needs are the upstream ones, and this run proves them; what they lack for the versions run here is added
by name (``extra_rules``). The RBAC is placed in the operator's namespace here (upstream leaves ``system`` or
``default`` for kustomize to replace). Health and metrics listen on loopback.

spark-operator submits each SparkApplication with Spark's own ``spark-submit``, from ``SPARK_HOME``: the project's
pyspark install, the same Spark the project image runs. ``spark-submit`` finds the apiserver through the
``KUBERNETES_SERVICE_HOST``/``PORT`` pair the operator reads (as in a pod) and authenticates with the operator's
kubeconfig, so the driver pod is created by the operator's account. The mutating webhook is not started: the
project's SparkApplications use only fields that ``spark-submit`` itself turns into pod settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyspark
import requests
import yaml

from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import module_dir, tool

RBAC_API = "rbac.authorization.k8s.io/v1"
RBAC_KINDS = frozenset({"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class OperatorSpec:
    name: str  # the program, as toolchain/build.sh builds it
    upstream: str  # its module in toolchain/versions.env
    namespace: str
    account: str
    rbac: tuple[str, ...]  # kustomize directories or files of the module holding its RBAC
    argv: Callable[[str, str], list[str]]  # (health address, namespaces to watch) -> arguments
    submits_with_spark: bool = False  # runs spark-submit, which needs SPARK_HOME and the apiserver's address
    extra_rules: tuple[dict[str, Any], ...] = ()  # what the upstream RBAC lacks for the versions we run


SPARK_OPERATOR = OperatorSpec(
    name="spark-operator",
    upstream="SPARK_OPERATOR",
    namespace="spark-operator",
    account="spark-operator-controller",
    rbac=("config/rbac", "config/manager/serviceaccount.yaml"),
    argv=lambda health, namespaces: [
        "controller",
        "start",
        f"--namespaces={namespaces}",
        "--leader-election=false",
        "--enable-metrics=false",
        f"--health-probe-bind-address={health}",
        "--controller-threads=2",
        "--zap-log-level=info",
    ],
    submits_with_spark=True,
    # Spark 4's spark-submit gives each driver a NetworkPolicy (ingress from its own application's pods only);
    # spark-operator v2.5.2's RBAC predates that, and without these the submission fails with 403.
    extra_rules=(
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
    ),
)

RAY_OPERATOR = OperatorSpec(
    name="ray-operator",
    upstream="KUBERAY",
    namespace="kuberay",
    account="kuberay-operator",
    rbac=("config/rbac",),
    argv=lambda health, namespaces: [
        f"--watch-namespace={namespaces}",
        "--enable-leader-election=false",
        f"--metrics-addr={LOOPBACK}:{free_port()}",
        f"--health-probe-bind-address={health}",
        "--reconcile-concurrency=2",
        # It runs beside the cluster, where cluster DNS names do not resolve: it reaches the Ray head's dashboard
        # (job status) through the apiserver's service proxy, which its upstream RBAC grants.
        "--use-kubernetes-proxy",
    ],
)


def upstream_rbac(kube: Kube, spec: OperatorSpec) -> list[dict[str, Any]]:
    """The operator's ServiceAccount and RBAC from its module, placed in ``spec.namespace``."""
    root = module_dir(spec.upstream)
    objects: list[dict[str, Any]] = []
    for part in spec.rbac:
        path = root / part
        text = kube.kubectl("kustomize", str(path)) if path.is_dir() else path.read_text()
        objects += [o for o in yaml.safe_load_all(text) if o and o["kind"] in RBAC_KINDS]
    for o in objects:
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            o["metadata"]["namespace"] = spec.namespace
        for subject in o.get("subjects", []):
            if subject["kind"] == "ServiceAccount":
                subject["namespace"] = spec.namespace
    if not any(o["kind"] == "ServiceAccount" and o["metadata"]["name"] == spec.account for o in objects):
        raise LookupError(f"{spec.upstream}'s {', '.join(spec.rbac)} has no ServiceAccount {spec.account}")
    return objects + _extra_rbac(spec)


def _extra_rbac(spec: OperatorSpec) -> list[dict[str, Any]]:
    if not spec.extra_rules:
        return []
    name = f"{spec.account}-supplement"
    role = {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": {"name": name}, "rules": list(spec.extra_rules)}
    binding = {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": spec.account, "namespace": spec.namespace}],
    }
    return [role, binding]


def _environment(spec: OperatorSpec, kube: Kube, kubeconfig: Path) -> dict[str, str]:
    env = {"KUBECONFIG": str(kubeconfig)}
    if spec.submits_with_spark:
        server = urlsplit(kube.server)
        env |= {
            "SPARK_HOME": str(Path(pyspark.__file__).parent),
            "KUBERNETES_SERVICE_HOST": str(server.hostname),
            "KUBERNETES_SERVICE_PORT": str(server.port),
        }
    return env


def start_operator(
    supervisor: Supervisor, kube: Kube, work: Path, spec: OperatorSpec, namespaces: Sequence[str]
) -> None:
    """Install the operator's RBAC, start it as its ServiceAccount and wait until its health check answers."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spec.namespace}}
    kube.apply(yaml.safe_dump_all([namespace, *upstream_rbac(kube, spec)]))
    token = kube.service_account_token(spec.namespace, spec.account)
    kubeconfig = write_kubeconfig(
        work / f"{spec.name}.kubeconfig", kube.server, kube.pki, token=token, namespace=spec.namespace
    )
    health = f"{LOOPBACK}:{free_port()}"
    supervisor.start(
        spec.name,
        [str(tool(spec.name)), *spec.argv(health, ",".join(namespaces))],
        env=_environment(spec, kube, kubeconfig),
    )

    def healthy() -> bool | None:
        supervisor.check_alive()
        return True if requests.get(f"http://{health}/healthz", timeout=5).ok else None

    wait_for(f"{spec.name} /healthz", healthy, START_TIMEOUT)
