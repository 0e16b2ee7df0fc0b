"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler on free ports.

etcd, the controller-manager and the scheduler listen on loopback. The apiserver listens on the node's address
on the run's pod bridge (``tests.cluster.network``): pods reach it there through the ``kubernetes`` Service,
whose endpoint it advertises itself, and the host reaches it as a local address.

The apiserver runs with the Node authorizer and NodeRestriction admission for the kubelet, RBAC for everyone
else, and real service-account tokens (signed with the run's key, issuer set), so every request is authorized
as it would be in a cluster. The controller-manager creates each namespace's default service account and
publishes the cluster's CA to every namespace, and binds claims to volumes. Node IPAM is off: the node's pod
addresses come from the CNI configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.network import NODE_IP, SERVICE_CIDR
from tests.cluster.pki import Pki
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import tool

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class ControlPlane:
    kube: Kube
    kubeconfig: Path


def start_etcd(supervisor: Supervisor, data_dir: Path) -> str:
    client, peer = f"http://{LOOPBACK}:{free_port()}", f"http://{LOOPBACK}:{free_port()}"
    supervisor.start(
        "etcd",
        [
            str(tool("etcd")),
            "--name=cluster-test",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=cluster-test={peer}",
            "--unsafe-no-fsync",  # a throwaway store: durability costs time and buys nothing here
        ],
    )
    return client


def start_apiserver(supervisor: Supervisor, etcd: str, pki: Pki) -> str:
    port = free_port()
    supervisor.start(
        "kube-apiserver",
        [
            str(tool("kube-apiserver")),
            f"--etcd-servers={etcd}",
            f"--bind-address={NODE_IP}",
            f"--advertise-address={NODE_IP}",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.server_cert}",
            f"--tls-private-key-file={pki.server_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            # For logs and exec: the kubelet authorizes this identity (system:masters) through the apiserver.
            f"--kubelet-client-certificate={pki.admin_cert}",
            f"--kubelet-client-key={pki.admin_key}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.service_account_public}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
        ],
    )
    return f"https://{NODE_IP}:{port}"


def start_controllers(supervisor: Supervisor, kubeconfig: Path, pki: Pki) -> None:
    supervisor.start(
        "kube-controller-manager",
        [
            str(tool("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
            "--controllers=*,-node-ipam-controller",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
        ],
    )
    supervisor.start(
        "kube-scheduler",
        [
            str(tool("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
        ],
    )


def start_control_plane(supervisor: Supervisor, work: Path, pki: Pki) -> ControlPlane:
    etcd = start_etcd(supervisor, work / "etcd")
    server = start_apiserver(supervisor, etcd, pki)
    kubeconfig = write_kubeconfig(work / "admin.kubeconfig", server, pki)
    kube = Kube(server=server, pki=pki, kubectl_path=tool("kubectl"), kubeconfig=kubeconfig)

    def ready() -> bool | None:
        supervisor.check_alive()
        response = kube.request("GET", "/readyz")
        return True if response.ok else None

    wait_for("kube-apiserver /readyz", ready, START_TIMEOUT)
    start_controllers(supervisor, kubeconfig, pki)

    def default_account() -> bool | None:
        supervisor.check_alive()
        return True if kube.request("GET", "/api/v1/namespaces/default/serviceaccounts/default").ok else None

    wait_for("the controller-manager to create the default service account", default_account, START_TIMEOUT)
    return ControlPlane(kube=kube, kubeconfig=kubeconfig)
