"""A real kubelet on the run's containerd: it registers the node and runs the pods the scheduler gives it.

It authenticates with a client certificate for ``system:node:<name>`` (group ``system:nodes``), so the
apiserver's Node authorizer and NodeRestriction admission limit it to its own node and pods, as in a real
cluster. Its API listens on the node's bridge address with the run's CA for clients and webhook authorization,
so the apiserver reaches it for logs. Everything it writes (pod volumes, plugins, checkpoints) is under the
run's directory.

This VM has cgroup v1, which Kubernetes 1.35+ refuses unless ``failCgroupV1`` is off; and Debian's containerd
1.6 predates the CRI ``RuntimeConfig`` call, so the kubelet falls back to its own ``cgroupDriver: cgroupfs``
(the driver containerd uses, ``SystemdCgroup = false``). Eviction and image garbage collection are set so a
busy development disk cannot evict the run's pods or delete its imported images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.cluster.containerd import Runtime
from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.network import DNS_SERVICE_IP, NODE_IP, POD_SUBNET
from tests.cluster.pki import Pki, client_certificate
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import tool

NODE_NAME = "cluster-test-node-0"
CLUSTER_DOMAIN = "cluster.local"
READY_TIMEOUT = 120.0


def kubelet_config(directory: Path, pki: Pki, runtime: Runtime) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": free_port(),
        "readOnlyPort": 0,
        "healthzBindAddress": LOOPBACK,
        "healthzPort": free_port(),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": runtime.endpoint,
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(_resolv_conf(directory)),
        "podCIDR": POD_SUBNET,
        "staticPodPath": "",
        "volumePluginDir": str(directory / "volume-plugins"),
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
    }


def _resolv_conf(directory: Path) -> Path:
    """What a pod's resolv.conf adds to the cluster's DNS: nothing of the host's own resolvers."""
    path = directory / "resolv.conf"
    path.write_text("")
    return path


def start_kubelet(supervisor: Supervisor, kube: Kube, pki: Pki, runtime: Runtime, work: Path) -> str:
    """Start the kubelet and wait until its node is Ready; returns the node's name."""
    directory = work / "kubelet"
    directory.mkdir()
    client = client_certificate(pki, "kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}")
    kubeconfig = write_kubeconfig(directory / "kubeconfig", kube.server, pki, client=client)
    config = directory / "config.yaml"
    config.write_text(yaml.safe_dump(kubelet_config(directory, pki, runtime)))
    supervisor.start(
        "kubelet",
        [
            str(tool("kubelet")),
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={directory / 'root'}",
            f"--cert-dir={directory / 'pki'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}",
            "--v=1",
        ],
    )

    def ready() -> bool | None:
        supervisor.check_alive()
        conditions = kube.get(f"/api/v1/nodes/{NODE_NAME}").get("status", {}).get("conditions", [])
        return True if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None

    wait_for(f"node {NODE_NAME} Ready", ready, READY_TIMEOUT)
    return NODE_NAME


POD_CGROUP = "kubepods"  # the kubelet's parent of every pod cgroup, under each cgroup v1 hierarchy (cgroupfs driver)


def remove_pod_cgroups(cgroup_root: Path = Path("/sys/fs/cgroup")) -> list[str]:
    """After the pods' processes are gone: delete the cgroups the kubelet made, deepest first; returns leftovers."""
    left: list[str] = []
    for top in sorted(cgroup_root.glob(f"*/{POD_CGROUP}")):
        for directory in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
            _remove_cgroup(directory, left)
        _remove_cgroup(top, left)
    return left


def _remove_cgroup(directory: Path, left: list[str]) -> None:
    try:
        directory.rmdir()  # a cgroup directory goes with rmdir once it has no processes and no children
    except FileNotFoundError:
        pass
    except OSError as e:
        left.append(f"cgroup {directory}: {e.strerror}")
