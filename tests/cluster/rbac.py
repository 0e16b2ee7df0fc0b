"""The service's RBAC, exercised through argo-server with the service's own token: what it needs works, the
rest is refused by the apiserver (argo-server in client mode passes the caller's token on).

Allowed: submit (create), read a run (get) and stop it (argo-server reads the Workflow, then patches its
``spec.shutdown``). Refused: deleting a run, listing runs, and submitting into another namespace.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import requests

from core.errors import PermanentError
from tests.cluster.kube import Kube
from tests.cluster.pipelines import SAMPLE_REPOS
from tests.workflows.pipeline_samples import SAMPLE_LABELS, SAMPLE_PARAMS
from workflows.argo.backend import ArgoBackend
from workflows.settings import ArgoSettings


class RbacMismatchError(AssertionError):
    """The service could do something it should not, or could not do something it needs."""


def _status(settings: ArgoSettings, method: str, path: str) -> int:
    token = settings.token_file.read_text() if settings.token_file else ""
    response = requests.request(
        method, settings.server_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code


def check_rbac(
    kube: Kube, backend: ArgoBackend, settings: ArgoSettings, run: str, other_namespace: str
) -> dict[str, Any]:
    """``run`` is a submitted workflow that this check stops."""
    namespace = settings.namespace
    results: dict[str, Any] = {}
    results["get"] = backend.status(run).phase.value
    backend.cancel(run)
    shutdown = kube.get(f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{run}")["spec"].get("shutdown")
    if shutdown != "Stop":
        raise RbacMismatchError(f"stop through argo-server left spec.shutdown={shutdown!r} on {run}")
    results["stop"] = f"spec.shutdown={shutdown}"

    refused: dict[str, int | str] = {
        "delete": _status(settings, "DELETE", f"/api/v1/workflows/{namespace}/{run}"),
        "list": _status(settings, "GET", f"/api/v1/workflows/{namespace}"),
    }
    elsewhere = ArgoBackend(settings.model_copy(update={"namespace": other_namespace}), code_repos=SAMPLE_REPOS)
    try:
        elsewhere.submit("feature-apply", SAMPLE_PARAMS["feature-apply"], run_name="elsewhere-0", labels=SAMPLE_LABELS)
        refused[f"create in {other_namespace}"] = HTTPStatus.OK
    except PermanentError as e:
        refused[f"create in {other_namespace}"] = HTTPStatus.FORBIDDEN if "(403)" in str(e) else str(e)
    finally:
        elsewhere.close()
    allowed_anyway = {what: code for what, code in refused.items() if code != HTTPStatus.FORBIDDEN}
    if allowed_anyway:
        raise RbacMismatchError(f"expected 403 from argo-server, got {allowed_anyway}")
    if kube.request("GET", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{run}").status_code != 200:
        raise RbacMismatchError(f"{run} is gone although its delete was refused")
    results["refused"] = refused
    return results
