"""A short Python script run once in a pod on the node, as a client inside the cluster runs: its output comes
back through ``kubectl logs`` and the pod is deleted."""

from __future__ import annotations

from tests.cluster.kube import Kube, wait_for

PROBE_TIMEOUT = 300.0


class ProbeFailedError(AssertionError):
    """The script ended in failure; the message carries its output."""


def run_in_pod(kube: Kube, namespace: str, image: str, name: str, script: str) -> str:
    """Run ``python -c script`` in ``image`` as pod ``name``; returns its output's last line."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": True,
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", script],
                    "resources": {"limits": {"cpu": "200m", "memory": "256Mi"}},
                }
            ],
        },
    }
    kube.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    path = f"/api/v1/namespaces/{namespace}/pods/{name}"

    def done() -> str | None:
        phase = kube.get(path).get("status", {}).get("phase")
        return str(phase) if phase in ("Succeeded", "Failed") else None

    phase = wait_for(f"pod {name} to finish", done, PROBE_TIMEOUT, interval=1)
    logs = kube.kubectl("logs", "-n", namespace, name)
    kube.request("DELETE", path)
    if phase != "Succeeded":
        raise ProbeFailedError(f"pod {name} {phase}: {logs.strip()[-1500:]}")
    return logs.strip().splitlines()[-1]
