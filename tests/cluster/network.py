"""The run's network: one private bridge for the pods, and the host settings a node needs, undone at the end.

Pods get addresses from ``POD_SUBNET`` on a bridge the run creates (the CNI bridge plugin attaches each pod's veth
to it). The bridge's own address is the node's address: the apiserver, the kubelet and CoreDNS listen there, so
pods reach them through the bridge, and the host reaches them as a local address. Nothing is masqueraded and a
rule in the host's FORWARD chain drops any packet from the pod subnet that would leave through another
interface, so no pod traffic reaches the outside world. Service ClusterIPs (``SERVICE_CIDR``) exist only as
kube-proxy's iptables rules.

The node needs packet forwarding between the bridge's ports and the host (``net.ipv4.ip_forward``) and bridged
traffic passed through iptables (``net.bridge.bridge-nf-call-iptables``), or a pod's reply to another pod on the
bridge would skip the un-DNAT of a ClusterIP. Both sysctls are set for the run and restored afterwards, and the
``KUBE-`` iptables chains that the kubelet and kube-proxy add are deleted (``tests.cluster.iptables``).
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.iptables import KubeChains

BRIDGE = "mlopstest0"
POD_SUBNET = "10.244.0.0/24"
NODE_IP = "10.244.0.1"  # the bridge's address: the pods' gateway and the node's InternalIP
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR, which the apiserver takes for itself
DNS_SERVICE_IP = "10.96.0.10"
SYSCTLS = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}
_EGRESS_DROP = ["FORWARD", "-s", POD_SUBNET, "!", "-o", BRIDGE, "-j", "DROP"]


class NetworkInUseError(RuntimeError):
    """The bridge already exists: another run is going, or a crashed one left it (``ip link del`` it)."""


def _run(*argv: str) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


@dataclass
class NodeNetwork:
    """What ``create`` changed on the host, so that ``remove`` undoes exactly that."""

    saved_sysctls: dict[str, str] = field(default_factory=dict)
    bridge_created: bool = False
    rule_added: bool = False
    kube_chains: KubeChains = field(default_factory=KubeChains)

    def create(self) -> None:
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            raise NetworkInUseError(f"network interface {BRIDGE} already exists")
        self.kube_chains.note_existing()
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        self.bridge_created = True
        _run("ip", "addr", "add", f"{NODE_IP}/{POD_SUBNET.split('/')[1]}", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        _run("iptables", "-I", *_EGRESS_DROP)
        self.rule_added = True
        for name, value in SYSCTLS.items():
            path = Path("/proc/sys") / name
            self.saved_sysctls[name] = path.read_text().strip()
            path.write_text(value)

    def remove(self) -> list[str]:
        """Undo everything ``create`` did, whatever failed on the way; returns what could not be undone."""
        problems = self.kube_chains.remove_new()
        self.kube_chains.before.clear()
        for name, value in self.saved_sysctls.items():
            try:
                (Path("/proc/sys") / name).write_text(value)
            except OSError as e:
                problems.append(f"sysctl {name}: {e}")
        self.saved_sysctls.clear()
        steps = []
        if self.rule_added:
            steps.append(["iptables", "-D", *_EGRESS_DROP])
        if self.bridge_created:
            steps.append(["ip", "link", "del", BRIDGE])
        for argv in steps:
            try:
                _run(*argv)
            except RuntimeError as e:
                problems.append(str(e))
        self.rule_added = self.bridge_created = False
        return problems


def cni_config(ipam_dir: Path) -> dict[str, object]:
    """The CNI network of the node's pods: the run's bridge, host-local addresses, no masquerade."""
    return {
        "cniVersion": "1.0.0",
        "name": "mlops-cluster-test",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,  # a pod may reach itself through a ClusterIP
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }


def remove_netns(names: set[str]) -> list[str]:
    """Delete named network namespaces (those the run's pods left behind); returns the ones that would not go."""
    problems: list[str] = []
    for name in sorted(names):
        with contextlib.suppress(FileNotFoundError):
            try:
                _run("ip", "netns", "delete", name)
            except RuntimeError as e:
                problems.append(str(e))
    return problems


def netns_names() -> set[str]:
    directory = Path("/var/run/netns")
    return {entry.name for entry in directory.iterdir()} if directory.is_dir() else set()
