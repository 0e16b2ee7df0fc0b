"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler, bound to loopback on free ports.

The apiserver runs with RBAC and real service-account tokens (signed with the run's key, issuer set), so every
request the service makes is authorized as it would be in a cluster. The controller-manager is needed even
with fake nodes: it lifts the nodes' not-ready taint, creates each namespace's default service account, and
binds claims to volumes. Node IPAM is off because nodes come from kwok with no pod CIDR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.pki import Pki
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import tool

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
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
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.server_cert}",
            f"--tls-private-key-file={pki.server_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.service_account_public}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--endpoint-reconciler-type=none",  # its own loopback address is no endpoint a pod could reach
        ],
    )
    return f"https://{LOOPBACK}:{port}"


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
