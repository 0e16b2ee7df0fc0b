"""The run's certificates and keys, made with ``openssl``: a throwaway CA, the apiserver's serving certificate,
a client certificate for the cluster's own components, and the key pair that signs service-account tokens.
Node programs get client certificates of their own (``client_certificate``), so the apiserver's Node authorizer
and the bootstrap RBAC roles (``system:node-proxier``) judge them as they would a real node's.

Everything is valid for one day and lives in the run's directory, which the run deletes at the end.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.network import KUBERNETES_SERVICE_IP, NODE_IP

# Names the apiserver answers to: loopback, and the in-cluster names a pod would use (the node's address on the
# run's pod bridge and the ClusterIP of the ``kubernetes`` Service, which kube-proxy sends there).
SERVER_NAMES = (
    f"IP:127.0.0.1,IP:{NODE_IP},IP:{KUBERNETES_SERVICE_IP},DNS:localhost,"
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
)
CLIENT_EXTENSIONS = "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public: Path


@dataclass(frozen=True)
class ClientCertificate:
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(directory: Path, name: str, subject: str, extensions: str) -> None:
    """``name.key`` and ``name.crt``, signed by the run's CA, with ``extensions`` (an openssl extension list)."""
    (directory / f"{name}.ext").write_text(extensions + "\n")
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", subject, cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=directory,
    )  # fmt: skip


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=mlops-gitops-cluster-test-ca", cwd=directory,
    )  # fmt: skip
    _signed(
        directory,
        "apiserver",
        "/CN=kube-apiserver",
        f"subjectAltName={SERVER_NAMES}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment",
    )
    # The control plane's own client identity: system:masters, as kubeadm's admin.conf.
    _signed(
        directory,
        "admin",
        "/O=system:masters/CN=cluster-test-admin",
        CLIENT_EXTENSIONS,
    )
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=directory)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "apiserver.crt",
        server_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
        service_account_public=directory / "sa.pub",
    )


def client_certificate(pki: Pki, name: str, subject: str) -> ClientCertificate:
    """A client certificate for ``subject`` (``/O=group/CN=user``), signed by the run's CA."""
    directory = pki.ca_cert.parent
    _signed(directory, name, subject, CLIENT_EXTENSIONS)
    return ClientCertificate(cert=directory / f"{name}.crt", key=directory / f"{name}.key")


def server_certificate(pki: Pki, name: str, address: str) -> ClientCertificate:
    """A TLS server certificate for ``address`` (an IP), signed by the run's CA, which every pod trusts through
    the ``kube-root-ca.crt`` ConfigMap the controller-manager publishes in each namespace."""
    directory = pki.ca_cert.parent
    extensions = f"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment"
    _signed(directory, name, f"/CN={name}", extensions)
    return ClientCertificate(cert=directory / f"{name}.crt", key=directory / f"{name}.key")
