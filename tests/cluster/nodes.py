"""Nodes from kwok: the scheduler places pods on them, and kwok marks those pods running without running them.

kwok takes its behaviour from Stage objects; run on its own it has none, so its configuration file carries the
upstream "fast" stages of the pinned kwok module (nodes become Ready and keep a lease, pods become Running)
and every parallelism option above zero, which it requires. Pods and nodes get loopback addresses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.cluster.kube import Kube, wait_for
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import module_dir, tool

NODE_NAME = "kwok-node-0"
NODE_IP = "127.0.0.2"
POD_CIDR = "127.1.0.0/16"
STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
PARALLELISM = 4
# Room for every step of the three pipelines at once (their requests are set in workflows.argo.step_resources).
CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "110"}


def kwok_config(stage_dir: Path) -> str:
    configuration = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "cidr": POD_CIDR,
            "nodeIP": NODE_IP,
            "manageAllNodes": True,
            "serverAddress": f"{LOOPBACK}:{free_port()}",
            "podPlayStageParallelism": PARALLELISM,
            "nodePlayStageParallelism": PARALLELISM,
            "nodeLeaseParallelism": PARALLELISM,
            "podsOnNodeSyncParallelism": PARALLELISM,
        },
    }
    stages = [(stage_dir / stage).read_text() for stage in STAGES]
    return "---\n".join([yaml.safe_dump(configuration), *stages])


def node_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "status": {"allocatable": CAPACITY, "capacity": CAPACITY},
    }


def start_nodes(supervisor: Supervisor, kube: Kube, kubeconfig: Path, work: Path) -> str:
    """Start kwok, register one node and wait until it is Ready; returns the node's name."""
    config = work / "kwok.yaml"
    config.write_text(kwok_config(module_dir("KWOK") / "kustomize" / "stage"))
    supervisor.start("kwok", [str(tool("kwok")), f"--kubeconfig={kubeconfig}", f"--config={config}"])
    kube.create("/api/v1/nodes", node_manifest())

    def ready() -> bool | None:
        supervisor.check_alive()
        conditions = kube.get(f"/api/v1/nodes/{NODE_NAME}").get("status", {}).get("conditions", [])
        return True if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None

    wait_for(f"node {NODE_NAME} Ready", ready, timeout=90)
    return NODE_NAME
