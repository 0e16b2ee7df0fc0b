"""Choosing the workflow backend from configuration, so callers only ever see ``WorkflowBackend``.

The local backend imports Prefect, Spark and Ray helpers; it is imported only
when chosen, so a cluster deployment never loads them.
"""

from __future__ import annotations

from workflows.argo.backend import ArgoBackend
from workflows.backend import WorkflowBackend
from workflows.settings import WorkflowSettings


def make_backend(settings: WorkflowSettings) -> WorkflowBackend:
    """The backend named by ``settings.backend``, configured from its settings group."""
    if settings.backend == "argo":
        return ArgoBackend(settings.argo, code_repos=settings.code_repos)
    from workflows.local import LocalBackend

    return LocalBackend(settings.local, code_repos=settings.code_repos)
