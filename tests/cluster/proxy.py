"""kube-proxy in iptables mode: it turns Services into NAT rules, so pods reach a Service's ClusterIP.

It authenticates as ``system:kube-proxy``, the user the apiserver's bootstrap RBAC binds to
``system:node-proxier``. Its health and metrics servers stay on loopback, NodePorts answer on the node's bridge
address only, and it may not touch ``route_localnet`` (no NodePorts on localhost). Its rules live in ``KUBE-``
chains, which the run deletes at its end (``tests.cluster.iptables``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.cluster.kube import Kube, write_kubeconfig
from tests.cluster.kubelet import NODE_NAME
from tests.cluster.network import NODE_IP, POD_SUBNET
from tests.cluster.pki import Pki, client_certificate
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import tool


def proxy_config(kubeconfig: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_SUBNET,
        "healthzBindAddress": f"{LOOPBACK}:{free_port()}",
        "metricsBindAddress": f"{LOOPBACK}:{free_port()}",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"localhostNodePorts": False},
        "conntrack": {"maxPerCore": 0},  # leave the host's conntrack table size alone
    }


def start_proxy(supervisor: Supervisor, kube: Kube, pki: Pki, work: Path) -> None:
    directory = work / "kube-proxy"
    directory.mkdir()
    client = client_certificate(pki, "kube-proxy", "/CN=system:kube-proxy")
    kubeconfig = write_kubeconfig(directory / "kubeconfig", kube.server, pki, client=client)
    config = directory / "config.yaml"
    config.write_text(yaml.safe_dump(proxy_config(kubeconfig)))
    supervisor.start("kube-proxy", [str(tool("kube-proxy")), f"--config={config}"])
