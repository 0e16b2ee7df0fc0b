"""The real Argo Workflows controller and argo-server, built from the pinned module, in the ``argo`` namespace.

argo-server runs with ``--auth-mode=client``: it acts with each caller's own bearer token, so the service's
RBAC is what decides. It has no bind-address option and listens on all interfaces (plain HTTP, a free port);
the workflow-controller's health endpoint is fixed at :6060, also on all interfaces. Every client in this run
talks to both over loopback only. Metrics servers are turned off in the controller's ConfigMap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import tool

NAMESPACE = "argo"
CONTROLLER_HEALTH = f"http://{LOOPBACK}:6060/healthz"
START_TIMEOUT = 120.0

CONTROLLER_CONFIG = f"""
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
"""


@dataclass(frozen=True)
class Argo:
    server_url: str


def start_argo(supervisor: Supervisor, kube: Kube, work: Path) -> Argo:
    kube.apply(CONTROLLER_CONFIG)
    kubeconfig = write_kubeconfig(work / "argo.kubeconfig", kube.server, kube.pki, namespace=NAMESPACE)
    controller = tool("workflow-controller")
    argo = tool("argo")
    supervisor.start(
        "workflow-controller",
        [str(controller), f"--kubeconfig={kubeconfig}", "--executor-image-pull-policy=IfNotPresent"],
        env={"LEADER_ELECTION_DISABLE": "true"},
    )
    port = free_port()
    supervisor.start(
        "argo-server",
        [str(argo), "server", f"--kubeconfig={kubeconfig}", "--auth-mode=client", "--secure=false", f"--port={port}"],
    )
    server_url = f"http://{LOOPBACK}:{port}"

    def healthy(url: str) -> bool | None:
        supervisor.check_alive()
        return True if requests.get(url, timeout=5).ok else None

    wait_for("workflow-controller /healthz", lambda: healthy(CONTROLLER_HEALTH), START_TIMEOUT)
    wait_for("argo-server /api/v1/version", lambda: healthy(f"{server_url}/api/v1/version"), START_TIMEOUT)
    return Argo(server_url=server_url)
