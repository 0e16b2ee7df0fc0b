"""Pipelines defined once with Hera: a pipeline name and its validated parameters become an Argo ``Workflow``.

``build_workflow`` is the one entry point; it touches no network, so the same
object is printed by ``mlops-gitops render``, pinned by the golden files and
sent by the Argo backend. What needs the network (the repository image named
in ``mlops.yaml`` at the run's commit) is looked up before, at submission,
and handed in as ``repository_image``.
"""

from __future__ import annotations

from collections.abc import Mapping

from hera.workflows import Workflow
from pydantic import BaseModel

from core.errors import PermanentError
from workflows.params import PIPELINES
from workflows.pipelines.context import RenderContext
from workflows.pipelines.factories import FACTORIES
from workflows.settings import ArgoSettings


def build_workflow(
    pipeline: str,
    params: BaseModel,
    *,
    run_name: str,
    labels: Mapping[str, str],
    settings: ArgoSettings,
    repository_image: str | None = None,
) -> Workflow:
    """Render ``pipeline`` with ``params`` as the Workflow named ``run_name``.

    ``repository_image`` (``name:tag``) is the image the steps running the ML repository's code run in; none:
    every step runs in ``settings.image``.
    """
    if pipeline not in FACTORIES:
        raise PermanentError(f"unknown pipeline {pipeline!r}; choose one of {', '.join(sorted(FACTORIES))}")
    expected = PIPELINES[pipeline]
    if not isinstance(params, expected):
        raise PermanentError(f"pipeline {pipeline} takes {expected.__name__}, not {type(params).__name__}")
    context = RenderContext(
        pipeline=pipeline,
        run_name=run_name,
        settings=settings,
        extra_labels=labels,
        repository_image=repository_image,
    )
    return FACTORIES[pipeline](params, context)
