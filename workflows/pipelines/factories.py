"""One factory per pipeline: validated parameters in, a Hera ``Workflow`` out, no network.

Each factory states what is particular to its pipeline (which commit of which
repository the code comes from, how many Ray workers train); the step order
comes from ``workflows.steps.PIPELINE_TASKS`` through ``render_pipeline``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hera.workflows import Workflow

from workflows.params import EtlParams, FeatureApplyParams, RetrainParams
from workflows.pipelines.context import RenderContext
from workflows.pipelines.render import Checkout, render_pipeline
from workflows.steps.checkout import revision_dir


def data_etl_workflow(params: EtlParams, context: RenderContext) -> Workflow:
    return render_pipeline(context, params)


def retrain_workflow(params: RetrainParams, context: RenderContext) -> Workflow:
    """Retrain at ``params.commit`` (else ``params.branch``'s head): the code arrives as a git artifact early."""
    checkout = Checkout(
        step="repo-tests",
        repo=params.repo_url,
        revision=params.commit or params.branch,
        directory=revision_dir(params.commit, params.branch),
    )
    return render_pipeline(context, params, checkout=checkout, ray_workers=params.num_workers)


def feature_apply_workflow(params: FeatureApplyParams, context: RenderContext) -> Workflow:
    """Apply the built-in feature repo, or the one in ``params.repo_url`` at ``params.commit``."""
    checkout = None
    if params.repo_url is not None and params.commit is not None:
        checkout = Checkout(step="feast-apply", repo=params.repo_url, revision=params.commit, directory=params.commit)
    return render_pipeline(context, params, checkout=checkout)


FACTORIES: dict[str, Callable[[Any, RenderContext], Workflow]] = {
    "data-etl": data_etl_workflow,
    "retrain": retrain_workflow,
    "feature-apply": feature_apply_workflow,
}
