"""The real Argo Workflows controller and argo-server, built from the pinned module, in the ``argo`` namespace.

argo-server runs with ``--auth-mode=client``: it acts with each caller's own bearer token, so the service's
RBAC is what decides. It has no bind-address option and listens on all interfaces (plain HTTP, a free port);
the workflow-controller's health endpoint is fixed at :6060, also on all interfaces. Every client in this run
talks to both over loopback only. Metrics servers are turned off in the controller's ConfigMap, which also
names the executor image (argoexec, built by ``toolchain/images.sh`` and imported into the node, never pulled):
its ``init`` and ``wait`` containers and the emissary that wraps each step's command run on the real node. The
executor trusts the run's CA (every pod's ``kube-root-ca.crt``, projected with its service account token), so
``init`` can clone the ML repository from the run's HTTPS git host (``tests.cluster.code_host``).

Both run as their own ServiceAccounts with the RBAC of Argo's upstream cluster install (from the pinned
module), each with a TokenRequest token, as their Deployments would: that RBAC is part of what is proven.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import module_dir, tool

NAMESPACE = "argo"
UPSTREAM_INSTALL = "manifests/cluster-install-no-crds"
RBAC_KINDS = frozenset({"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})
CONTROLLER_ACCOUNT, SERVER_ACCOUNT = "argo", "argo-server"
CONTROLLER_HEALTH = f"http://{LOOPBACK}:6060/healthz"
START_TIMEOUT = 120.0
# The executor clones repositories from the run's git host, whose certificate the run's CA signed: the CA each pod
# already has from the kube-root-ca.crt ConfigMap (projected beside the service account token), given to Go's TLS
# as its only trusted root.
CLUSTER_CA_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


def controller_config(executor_image: str) -> str:
    return f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: workflow-controller-configmap
  namespace: {NAMESPACE}
data:
  metricsConfig: |
    enabled: false
  telemetryConfig: |
    enabled: false
  executor: |
    image: {executor_image}
    imagePullPolicy: Never
    env:
      - name: SSL_CERT_FILE
        value: {CLUSTER_CA_FILE}
"""


@dataclass(frozen=True)
class Argo:
    server_url: str


def install_rbac(kube: Kube) -> None:
    """The service accounts and RBAC of Argo's cluster install; its Deployments are left out (they run here)."""
    install = kube.kubectl("kustomize", str(module_dir("ARGO_WORKFLOWS") / UPSTREAM_INSTALL))
    objects = [o for o in yaml.safe_load_all(install) if o and o["kind"] in RBAC_KINDS]
    kube.apply(yaml.safe_dump_all(objects))


def account_kubeconfig(kube: Kube, path: Path, account: str) -> Path:
    token = kube.service_account_token(NAMESPACE, account)
    return write_kubeconfig(path, kube.server, kube.pki, token=token, namespace=NAMESPACE)


def start_argo(supervisor: Supervisor, kube: Kube, work: Path, executor_image: str) -> Argo:
    kube.apply(controller_config(executor_image))
    install_rbac(kube)
    controller_kubeconfig = account_kubeconfig(kube, work / "workflow-controller.kubeconfig", CONTROLLER_ACCOUNT)
    server_config = account_kubeconfig(kube, work / "argo-server.kubeconfig", SERVER_ACCOUNT)
    controller = tool("workflow-controller")
    argo = tool("argo")
    supervisor.start(
        "workflow-controller",
        [str(controller), f"--kubeconfig={controller_kubeconfig}"],
        env={"LEADER_ELECTION_DISABLE": "true"},
    )
    port = free_port()
    supervisor.start(
        "argo-server",
        [
            str(argo),
            "server",
            f"--kubeconfig={server_config}",
            "--auth-mode=client",
            "--secure=false",
            f"--port={port}",
        ],
        # It builds each caller's client from KUBECONFIG (server address and CA), not from --kubeconfig.
        env={"KUBECONFIG": str(server_config)},
    )
    server_url = f"http://{LOOPBACK}:{port}"

    def healthy(url: str) -> bool | None:
        supervisor.check_alive()
        return True if requests.get(url, timeout=5).ok else None

    wait_for("workflow-controller /healthz", lambda: healthy(CONTROLLER_HEALTH), START_TIMEOUT)
    # Its API wants a token; the page at / (a plain stand-in for the web UI) does not.
    wait_for("argo-server /", lambda: healthy(f"{server_url}/"), START_TIMEOUT)
    return Argo(server_url=server_url)
