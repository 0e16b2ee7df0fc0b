"""The real Argo CD: Redis, the repo-server and the application-controller, built from the pinned module.

Argo CD ships one binary that acts as the program ``ARGOCD_BINARY_NAME`` names. Its other parts (API server,
UI, Dex, ApplicationSet and notifications controllers) are not needed to sync and are not started.

What a Deployment would give them, and what they get here instead:

* the ``argocd`` namespace, the ConfigMaps and Secret they read, and the application-controller's
  ServiceAccount with the RBAC of Argo CD's upstream cluster install; the controller acts with a TokenRequest
  token of that account;
* the destination cluster: ``https://kubernetes.default.svc`` means "the pod's own in-cluster config", which
  does not exist outside a pod, so the run's apiserver is registered as a cluster Secret (its loopback
  address, that account's token, the run's CA) and the Applications name it (``gitops.scaffold``);
* Redis from the ``redis-server`` program (Debian's package), on loopback without persistence;
* the repo-server's image layout: GPG off (``ARGOCD_GPG_ENABLED=false``), its GnuPG, TLS and SSH directories in
  the run's directory, and on its ``PATH`` ``kustomize`` (it renders the overlays by running it) and the
  module's ``hack/git-verify-wrapper.sh`` (it runs that on every checkout; the module cache keeps files without
  the executable bit, so the run copies it).

The repo-server listens on loopback (gRPC without TLS, as the controller is told). The controller's metrics
server, which also answers its ``/healthz``, has no bind-address option: it listens on all interfaces, on a
free port, for as long as the run lasts.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.ports import LOOPBACK, free_port
from tests.cluster.processes import Supervisor
from tests.upstream import module_dir, tool

NAMESPACE = "argocd"
CLUSTER_NAME = "cluster-test"
UPSTREAM_INSTALL = "manifests/cluster-install"
CONTROLLER_ACCOUNT = "argocd-application-controller"
# From the upstream install: the controller's account and RBAC, the repo-server's account, and the settings both
# read (argocd-cm and friends, argocd-secret). Deployments, Services and NetworkPolicies are for pods.
UPSTREAM_OBJECTS = {
    ("ServiceAccount", CONTROLLER_ACCOUNT),
    ("Role", CONTROLLER_ACCOUNT),
    ("RoleBinding", CONTROLLER_ACCOUNT),
    ("ClusterRole", CONTROLLER_ACCOUNT),
    ("ClusterRoleBinding", CONTROLLER_ACCOUNT),
    ("ServiceAccount", "argocd-repo-server"),
    ("ConfigMap", "argocd-cm"),
    ("ConfigMap", "argocd-cmd-params-cm"),
    ("ConfigMap", "argocd-rbac-cm"),
    ("ConfigMap", "argocd-gpg-keys-cm"),
    ("ConfigMap", "argocd-ssh-known-hosts-cm"),
    ("ConfigMap", "argocd-tls-certs-cm"),
    ("Secret", "argocd-secret"),
}
CLUSTER_SCOPED = frozenset({"ClusterRole", "ClusterRoleBinding"})
START_TIMEOUT = 120.0
# A whole run is shorter; the controller's token must outlive the run's Argo CD measurements.
TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class ArgoCd:
    namespace: str
    cluster_server: str  # the destination server the Applications must name
    pids: dict[str, int]  # program -> pid, for reading their memory


def upstream_objects(kube: Kube) -> list[dict[str, Any]]:
    """The objects of :data:`UPSTREAM_OBJECTS` from the pinned install, placed in :data:`NAMESPACE`."""
    install = yaml.safe_load_all(kube.kubectl("kustomize", str(module_dir("ARGO_CD") / UPSTREAM_INSTALL)))
    chosen = [o for o in install if o and (o["kind"], o["metadata"]["name"]) in UPSTREAM_OBJECTS]
    missing = UPSTREAM_OBJECTS - {(o["kind"], o["metadata"]["name"]) for o in chosen}
    if missing:
        raise LookupError(f"the pinned Argo CD install lacks {sorted(missing)}")
    for obj in chosen:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = NAMESPACE
        for subject in obj.get("subjects", []):
            subject.setdefault("namespace", NAMESPACE)
    return chosen


def cluster_secret(kube: Kube, token: str) -> dict[str, Any]:
    """The run's apiserver as an Argo CD cluster: its address, the controller's token, the run's CA."""
    config = {
        "bearerToken": token,
        "tlsClientConfig": {"caData": base64.b64encode(kube.pki.ca_cert.read_bytes()).decode()},
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"cluster-{CLUSTER_NAME}",
            "namespace": NAMESPACE,
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "type": "Opaque",
        "stringData": {"name": CLUSTER_NAME, "server": kube.server, "config": json.dumps(config)},
    }


def kustomize_binary() -> Path:
    found = Path(shutil.which("kustomize") or Path.home() / "go" / "bin" / "kustomize")
    if not os.access(found, os.X_OK):
        raise FileNotFoundError("the repo-server runs kustomize, which is not installed; make cluster-test installs it")
    return found


def repo_server_environment(work: Path) -> dict[str, str]:
    """What the repo-server's image provides: GPG off, its data directories, the verify wrapper on PATH."""
    directories = {name: work / name for name in ("gnupg", "gpg-data", "tls", "ssh", "bin", "tmp")}
    for directory in directories.values():
        directory.mkdir(parents=True, exist_ok=True)
    directories["gnupg"].chmod(0o700)
    wrapper = directories["bin"] / "git-verify-wrapper.sh"
    shutil.copyfile(module_dir("ARGO_CD") / "hack" / "git-verify-wrapper.sh", wrapper)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    (directories["bin"] / "kustomize").symlink_to(kustomize_binary())  # it renders the overlays with it

    return {
        "ARGOCD_BINARY_NAME": "argocd-repo-server",
        "ARGOCD_GPG_ENABLED": "false",
        "ARGOCD_GNUPGHOME": str(directories["gnupg"]),
        "ARGOCD_GPG_DATA_PATH": str(directories["gpg-data"]),
        "ARGOCD_TLS_DATA_PATH": str(directories["tls"]),
        "ARGOCD_SSH_DATA_PATH": str(directories["ssh"]),
        "PATH": f"{directories['bin']}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(directories["tmp"]),  # its checkouts go here, and go with the run's directory
    }


def _redis_answers(port: int) -> bool | None:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            return True if connection.recv(64).startswith(b"+PONG") else None
    except OSError:
        return None


def start_argocd(supervisor: Supervisor, kube: Kube, work: Path) -> ArgoCd:
    directory = work / "argocd"
    directory.mkdir()
    kube.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    kube.apply(yaml.safe_dump_all(upstream_objects(kube)))
    token = kube.service_account_token(NAMESPACE, CONTROLLER_ACCOUNT, seconds=TOKEN_SECONDS)
    kube.apply(yaml.safe_dump(cluster_secret(kube, token)))
    kubeconfig = write_kubeconfig(
        directory / "application-controller.kubeconfig", kube.server, kube.pki, token=token, namespace=NAMESPACE
    )

    redis_port = free_port()
    redis = supervisor.start(
        "redis-server",
        [
            shutil.which("redis-server") or "redis-server",
            "--bind", LOOPBACK, "--port", str(redis_port), "--save", "", "--appendonly", "no",
            "--dir", str(directory),
        ],
    )  # fmt: skip

    def redis_up() -> bool | None:
        supervisor.check_alive()
        return _redis_answers(redis_port)

    wait_for("redis-server PING", redis_up, START_TIMEOUT)

    argocd = str(tool("argocd"))
    repo_port, repo_metrics = free_port(), free_port()
    repo_server = supervisor.start(
        "argocd-repo-server",
        [
            argocd,
            f"--address={LOOPBACK}",
            f"--port={repo_port}",
            f"--metrics-address={LOOPBACK}",
            f"--metrics-port={repo_metrics}",
            f"--redis={LOOPBACK}:{redis_port}",
            "--disable-tls",
            "--client-ca-path=",  # its default, a pod's mTLS mount, is refused together with --disable-tls
            "--logformat=text",
        ],
        env=repo_server_environment(directory),
    )
    controller_metrics = free_port()
    controller = supervisor.start(
        "argocd-application-controller",
        [
            argocd,
            f"--kubeconfig={kubeconfig}",
            f"--repo-server={LOOPBACK}:{repo_port}",
            "--repo-server-plaintext",
            f"--redis={LOOPBACK}:{redis_port}",
            f"--metrics-port={controller_metrics}",
            "--logformat=text",
        ],
        env={"ARGOCD_BINARY_NAME": "argocd-application-controller"},
    )

    def healthy(url: str) -> bool | None:
        supervisor.check_alive()
        return True if requests.get(url, timeout=5).ok else None

    wait_for(
        "argocd-repo-server /healthz",
        lambda: healthy(f"http://{LOOPBACK}:{repo_metrics}/healthz?full=true"),
        START_TIMEOUT,
    )
    wait_for(
        "argocd-application-controller /healthz",
        lambda: healthy(f"http://{LOOPBACK}:{controller_metrics}/healthz"),
        START_TIMEOUT,
    )
    pids = {started.name: started.process.pid for started in (redis, repo_server, controller)}
    return ArgoCd(namespace=NAMESPACE, cluster_server=kube.server, pids=pids)
