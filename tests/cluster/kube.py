"""Talking to the run's apiserver: a kubeconfig for the Go programs and ``kubectl``, a small REST client for
the harness itself.

The REST client is ``requests`` with the admin client certificate: the harness needs a handful of calls
(readiness, TokenRequest, reading pods and workflows), not a Kubernetes client library.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

from tests.cluster.pki import ClientCertificate, Pki

T = TypeVar("T")


class WaitTimeoutError(RuntimeError):
    """A condition the run waits for did not hold in time; the message says what and the last thing seen."""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Poll ``probe`` until it returns something other than None; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last = "nothing yet"
    while True:
        try:
            found = probe()
        except (requests.RequestException, subprocess.CalledProcessError, KeyError, ValueError) as e:
            found, last = None, f"{type(e).__name__}: {e}"
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise WaitTimeoutError(f"{what}: not within {timeout:.0f} s (last: {last})")
        time.sleep(interval)


def write_kubeconfig(
    path: Path,
    server: str,
    pki: Pki,
    *,
    token: str | None = None,
    client: ClientCertificate | None = None,
    namespace: str = "default",
) -> Path:
    """A kubeconfig for ``server``: as the owner of ``token``, of ``client``'s certificate, or else as the admin."""
    certificate = client or ClientCertificate(cert=pki.admin_cert, key=pki.admin_key)
    user = (
        {"token": token} if token else {"client-certificate": str(certificate.cert), "client-key": str(certificate.key)}
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "cluster-test", "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)}}
        ],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "user", "context": {"cluster": "cluster-test", "user": "user", "namespace": namespace}}],
        "current-context": "user",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Kube:
    """The apiserver at ``server``, as the cluster's admin; ``kubectl`` for applying manifests."""

    server: str
    pki: Pki
    kubectl_path: Path
    kubeconfig: Path

    def __post_init__(self) -> None:
        self.session = requests.Session()
        # Only these settings: the environment's CA bundle (REQUESTS_CA_BUNDLE) would replace the run's CA.
        self.session.trust_env = False
        self.session.cert = (str(self.pki.admin_cert), str(self.pki.admin_key))
        self.session.verify = str(self.pki.ca_cert)

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.server + path, json=body, timeout=30)

    def get(self, path: str) -> dict[str, Any]:
        response = self.request("GET", path)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", path, body)
        if not response.ok:
            raise requests.HTTPError(f"POST {path}: {response.status_code} {response.text.strip()}", response=response)
        created: dict[str, Any] = response.json()
        return created

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args[:3])}: {done.stderr.strip()}")
        return done.stdout

    def apply(
        self, manifests: str | Sequence[Path], *, field_manager: str = "cluster-test", dry_run: bool = False
    ) -> str:
        """Server-side apply of YAML text or files, so admission, schemas and RBAC of the real apiserver judge it.

        With ``dry_run`` the apiserver judges everything the same way but stores nothing.
        """
        common = ["apply", "--server-side", f"--field-manager={field_manager}", "--force-conflicts"]
        if dry_run:
            common.append("--dry-run=server")
        if isinstance(manifests, str):
            return self.kubectl(*common, "-f", "-", stdin=manifests)
        return self.kubectl(*common, *[arg for path in manifests for arg in ("-f", str(path))])

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A bound token from the TokenRequest API: what a pod of that account would get, not a stored secret."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        }
        created = self.create(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body)
        return str(created["status"]["token"])


class KubectlError(RuntimeError):
    """``kubectl`` refused; the message is its own error output."""
