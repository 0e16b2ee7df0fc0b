"""CoreDNS as the cluster's DNS, so a pod resolves ``<service>.<namespace>.svc.cluster.local``.

It runs on the node itself, listening on the node's bridge address, and serves only the cluster's zones from
the apiserver (its ``kubernetes`` plugin, as a user bound to a read-only ClusterRole): it forwards nothing, so
a name outside the cluster fails instead of leaving the run. The ``kube-dns`` Service gives it the ClusterIP the
kubelet writes into each pod's resolv.conf; the Service has no selector, and an EndpointSlice of the run's
points it at the node's address.
"""

from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.cluster.kube import Kube, wait_for, write_kubeconfig
from tests.cluster.kubelet import CLUSTER_DOMAIN
from tests.cluster.network import DNS_SERVICE_IP, KUBERNETES_SERVICE_IP, NODE_IP
from tests.cluster.pki import Pki, client_certificate
from tests.cluster.ports import free_port
from tests.cluster.probe import ProbeFailedError, run_in_pod
from tests.cluster.processes import Supervisor
from tests.upstream import tool

USER = "cluster-test-coredns"
NAMESPACE = "kube-system"

OBJECTS = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {USER}
rules:
  - apiGroups: [""]
    resources: [services, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {USER}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {USER}
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: {USER}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: {NAMESPACE}
spec:
  clusterIP: {DNS_SERVICE_IP}
  ports:
    - {{name: dns, port: 53, protocol: UDP}}
    - {{name: dns-tcp, port: 53, protocol: TCP}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: {NAMESPACE}
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: cluster-test
addressType: IPv4
endpoints:
  - addresses: ["{NODE_IP}"]
    conditions: {{ready: true}}
ports:
  - {{name: dns, port: 53, protocol: UDP}}
  - {{name: dns-tcp, port: 53, protocol: TCP}}
"""


def corefile(kubeconfig: Path, health_port: int) -> str:
    return f""".:53 {{
    bind {NODE_IP}
    errors
    health {NODE_IP}:{health_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} user
        pods disabled
    }}
    cache 10
}}
"""


def start_dns(supervisor: Supervisor, kube: Kube, pki: Pki, work: Path) -> None:
    directory = work / "coredns"
    directory.mkdir()
    health_port = free_port()
    client = client_certificate(pki, "coredns", f"/CN={USER}")
    kubeconfig = write_kubeconfig(directory / "kubeconfig", kube.server, pki, client=client)
    (directory / "Corefile").write_text(corefile(kubeconfig, health_port))
    kube.apply(OBJECTS)
    supervisor.start("coredns", [str(tool("coredns")), "-conf", str(directory / "Corefile")])

    def healthy() -> bool | None:
        supervisor.check_alive()
        return True if requests.get(f"http://{NODE_IP}:{health_port}/health", timeout=5).ok else None

    wait_for("CoreDNS /health", healthy, timeout=60)


# Run in a pod: resolve two Service names (one through the resolv.conf search path), then call the apiserver by
# its Service name over TLS, checking its certificate against the CA the pod's service account carries.
_PROBE = """
import json, socket, ssl, urllib.request
names = ("kubernetes.default.svc.cluster.local", "kube-dns.kube-system.svc.cluster.local")
resolved = {name: socket.gethostbyname(name) for name in names}
context = ssl.create_default_context(cafile="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
with urllib.request.urlopen("https://kubernetes.default.svc/version", context=context, timeout=20) as answer:
    version = json.load(answer)["gitVersion"]
print(json.dumps({"resolved": resolved, "apiserver_version": version}))
"""
PROBE_POD = "cluster-test-pod-networking"


class PodNetworkingError(AssertionError):
    """A pod could not resolve or reach what a cluster's DNS and Services must give it."""


def check_pod_networking(kube: Kube, namespace: str, image: str) -> dict[str, object]:
    """Run the probe in ``image`` on the node; returns what it found, read back through ``kubectl logs``."""
    try:
        found: dict[str, object] = json.loads(run_in_pod(kube, namespace, image, PROBE_POD, _PROBE))
    except ProbeFailedError as e:
        raise PodNetworkingError(str(e)) from e
    expected = {
        "kubernetes.default.svc.cluster.local": KUBERNETES_SERVICE_IP,
        "kube-dns.kube-system.svc.cluster.local": DNS_SERVICE_IP,
    }
    if found.get("resolved") != expected:
        raise PodNetworkingError(f"pod {PROBE_POD} resolved {found.get('resolved')}, expected {expected}")
    return found
