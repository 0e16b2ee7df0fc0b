"""One real node: containerd and the kubelet run the pods, kube-proxy makes Services work, CoreDNS names them.

``start_node`` brings the parts up in the order they need each other (the sandbox image before the kubelet's
first pod, the kubelet before kube-proxy reads its node) and records each part in a ``Node`` as it starts, so
``Node.before_stop`` and ``Node.after_stop`` undo exactly what was started even when a start failed half-way:
the kubelet and the pods' containers first, then (after the supervisor stopped the other programs) the shims,
network namespaces, mounts, the pods' cgroups, the bridge, the ``KUBE-`` iptables chains and the sysctls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.containerd import Runtime, archive_reference, kill_containers, start_runtime, stop_runtime
from tests.cluster.dns import start_dns
from tests.cluster.images import image_archive
from tests.cluster.kube import Kube
from tests.cluster.kubelet import remove_pod_cgroups, start_kubelet
from tests.cluster.mounts import unmount_under
from tests.cluster.network import NodeNetwork
from tests.cluster.pki import Pki
from tests.cluster.processes import Supervisor
from tests.cluster.proxy import start_proxy
from tests.cluster.report import Report


@dataclass
class Node:
    network: NodeNetwork = field(default_factory=NodeNetwork)
    runtime: Runtime | None = None
    kubelet_started: bool = False
    name: str = ""
    images: dict[str, str] = field(default_factory=dict)  # image -> reference in the node's containerd

    def before_stop(self, supervisor: Supervisor) -> list[str]:
        """While containerd still runs: stop the kubelet, so it starts no pod from here on, then kill every
        container, so no pod process outlives the run; returns the programs that needed SIGKILL."""
        killed = supervisor.stop("kubelet")
        if self.runtime is not None:
            kill_containers(self.runtime)
        return killed

    def after_stop(self, killed: list[str], work: Path) -> list[str]:
        """After the supervisor stopped every program: what is left of the node; returns what could not go."""
        problems: list[str] = []
        if self.runtime is not None:
            problems += stop_runtime(self.runtime, killed)
        problems += [f"still mounted: {point}" for point in unmount_under(work)]
        if self.kubelet_started:
            problems += remove_pod_cgroups()
        problems += self.network.remove()
        return problems


def start_node(node: Node, supervisor: Supervisor, kube: Kube, pki: Pki, work: Path, report: Report) -> None:
    """Start the node's parts, each as a level-1 step of ``report``."""
    with report.step(1, "pause image"):
        archive = image_archive("pause")
    with report.step(1, "containerd"):
        node.runtime = start_runtime(supervisor, work, archive_reference(archive))
        node.images["pause"] = node.runtime.import_image(archive)
    with report.step(1, "kubelet"):
        node.kubelet_started = True
        node.name = start_kubelet(supervisor, kube, pki, node.runtime, work)
    with report.step(1, "kube-proxy"):
        start_proxy(supervisor, kube, pki, work)
    with report.step(1, "coredns"):
        start_dns(supervisor, kube, pki, work)
