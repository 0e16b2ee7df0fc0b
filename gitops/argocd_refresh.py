"""Tell Argo CD about a pushed commit at once, instead of waiting for its next look at git.

Argo CD's application-controller compares an Application with git every 120 s plus up to 60 s of jitter. The
``argocd.argoproj.io/refresh`` annotation on the Application makes it compare now (it removes the annotation
when done), which turns minutes between a promotion's commit and its rollout into seconds. It is set with a
JSON merge patch through the Kubernetes API, as the service's own account (``gitops.argocd_refresh``).

A refresh is a shortcut, not a step the promotion depends on: the commit is already pushed and polling will
find it. So a refused or failed call is logged as a warning with its status and never raised; the token is
read from its file for each call (a projected token rotates) and never logged.
"""

from __future__ import annotations

import httpx

from core.logging import get_logger
from gitops.settings import ArgoCdRefreshSettings, api_server_url

log = get_logger(__name__)

REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
MERGE_PATCH = "application/merge-patch+json"


class ArgoCdRefresh:
    """Sets the refresh annotation on the Application of an environment."""

    def __init__(self, settings: ArgoCdRefreshSettings) -> None:
        self._settings = settings
        verify: str | bool = str(settings.ca_file) if settings.ca_file is not None else True
        self._http = httpx.Client(
            base_url=api_server_url(settings.api_server), verify=verify, timeout=settings.timeout_seconds
        )

    def refresh(self, environment: str) -> bool:
        """Ask Argo CD to compare ``environment``'s Application with git now; True when the API accepted it."""
        name = self._settings.applications.get(environment)
        if name is None:
            return False
        path = f"/apis/argoproj.io/v1alpha1/namespaces/{self._settings.namespace}/applications/{name}"
        body = {"metadata": {"annotations": {REFRESH_ANNOTATION: "normal"}}}
        try:
            token = self._settings.token_file.read_text().strip()
            response = self._http.patch(
                path, json=body, headers={"Authorization": f"Bearer {token}", "Content-Type": MERGE_PATCH}
            )
        except (OSError, httpx.HTTPError) as e:
            log.warning("gitops.argocd_refresh_failed", application=name, error=f"{type(e).__name__}: {e}")
            return False
        if not response.is_success:
            log.warning("gitops.argocd_refresh_refused", application=name, status=response.status_code)
            return False
        log.info("gitops.argocd_refreshed", application=name, environment=environment)
        return True

    def close(self) -> None:
        self._http.close()
