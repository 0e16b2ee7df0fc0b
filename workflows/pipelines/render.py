"""Rendering a pipeline's task table (``workflows.steps.PIPELINE_TASKS``) as one Argo DAG.

The local backend walks the same table, so the order of steps is written
down once. Rendering decides, from the validated parameters, what Argo
cannot: an optional stage whose parameters are empty (retrain without ETL)
is left out and its dependants wait on what it waited on; and in cluster
mode the Spark and Ray steps become custom resources followed by a result
collector that carries the step's name, so downstream tasks reference every
step the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hera.workflows import DAG, GitArtifact, Resource, Task, Workflow
from hera.workflows import models as m
from hera.workflows.protocol import Templatable
from pydantic import BaseModel

from workflows.pipelines.cluster import ray_job_template, spark_application_template
from workflows.pipelines.context import WORK_VOLUME, RenderContext
from workflows.pipelines.templates import result_collector, step_container, upstream_arguments
from workflows.steps import PIPELINE_TASKS, STEPS
from workflows.steps import Task as PipelineTask

ENTRYPOINT = "pipeline"
SPARK_STEPS = frozenset({"etl"})
RAY_STEPS = frozenset({"train"})


@dataclass(frozen=True)
class Checkout:
    """The code repository at ``revision`` (a commit or branch), delivered as a git input artifact to ``step``.

    ``directory`` names the checkout's place under the run's checkouts, as
    ``workflows.steps.checkout.revision_dir`` derives it.
    """

    step: str
    repo: str
    revision: str
    directory: str


def render_pipeline(
    context: RenderContext, params: BaseModel, *, checkout: Checkout | None = None, ray_workers: int = 1
) -> Workflow:
    pipeline_tasks = PIPELINE_TASKS[context.pipeline]
    tasks = _included_tasks(pipeline_tasks, params)
    included = {task.step for task in tasks}
    templates: list[Templatable] = []
    dag_tasks: list[Task | m.DAGTask] = []
    for task in tasks:
        step_params = getattr(params, task.params_field) if task.params_field else params
        upstream = [name for name in STEPS[task.step].reads if name in included]
        depends = _effective_dependencies(task, pipeline_tasks, included)
        cluster_resource = _cluster_resource(context, task.step, step_params, upstream, ray_workers)
        if cluster_resource is None:
            artifacts = [_git_artifact(context, checkout)] if checkout and checkout.step == task.step else []
            templates.append(step_container(context, task.step, step_params, upstream, artifacts))
            dag_tasks.append(_task(task.step, depends, upstream))
        else:
            resource_name = str(cluster_resource.name)
            templates += [cluster_resource, result_collector(context, task.step)]
            dag_tasks += [_task(resource_name, depends, upstream), _task(task.step, [resource_name])]
    return Workflow(
        name=context.run_name,
        namespace=context.settings.namespace,
        labels=context.labels,
        annotations=context.annotations or None,
        entrypoint=ENTRYPOINT,
        service_account_name=context.settings.service_account,
        active_deadline_seconds=context.settings.active_deadline_seconds,
        pod_metadata=m.Metadata(labels=context.labels),
        security_context=_pods_identity(context),
        volumes=[_work_volume(context)],
        templates=[*templates, DAG(name=ENTRYPOINT, tasks=dag_tasks)],
    )


def _pods_identity(context: RenderContext) -> m.PodSecurityContext:
    """Every container of a run's pods (Argo's ``init`` and ``wait`` included) as the image's app user.

    The steps share one work volume: Argo's ``init`` container places checkouts in directories the steps made,
    and the steps read and write what ``init`` placed. Under one user and group (``fsGroup`` for volumes that
    honour it) neither is refused by the other's permissions, whichever user the executor image declares.
    """
    user = context.settings.run_as_user
    return m.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=user,
        run_as_group=user,
        fs_group=user,
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def _cluster_resource(
    context: RenderContext, step: str, params: BaseModel, upstream: Sequence[str], ray_workers: int
) -> Resource | None:
    """The custom resource ``step`` runs as in cluster mode, or ``None`` when it runs in a plain container."""
    if not context.settings.cluster_mode:
        return None
    if step in SPARK_STEPS:
        return spark_application_template(context, step, params)
    if step in RAY_STEPS:
        return ray_job_template(context, step, params, upstream, ray_workers)
    return None


def _work_volume(context: RenderContext) -> m.Volume:
    claim = m.PersistentVolumeClaimVolumeSource(claim_name=context.settings.work_volume_claim)
    return m.Volume(name=WORK_VOLUME, persistent_volume_claim=claim)


def _included_tasks(tasks: Sequence[PipelineTask], params: BaseModel) -> list[PipelineTask]:
    return [task for task in tasks if task.params_field is None or getattr(params, task.params_field) is not None]


def _effective_dependencies(task: PipelineTask, tasks: Sequence[PipelineTask], included: set[str]) -> list[str]:
    """``task.after``, with each left-out task replaced by what it would itself have waited on."""
    by_step = {candidate.step: candidate for candidate in tasks}
    dependencies: list[str] = []
    for name in task.after:
        found = [name] if name in included else _effective_dependencies(by_step[name], tasks, included)
        dependencies += [dependency for dependency in found if dependency not in dependencies]
    return dependencies


def _task(name: str, depends: Sequence[str], upstream: Sequence[str] = ()) -> Task:
    """The DAG task running template ``name`` after ``depends``, handed the results of the ``upstream`` it reads."""
    return Task(
        name=name,
        template=name,
        depends=" && ".join(depends) or None,
        arguments=upstream_arguments(upstream) or None,
    )


def _git_artifact(context: RenderContext, checkout: Checkout) -> GitArtifact:
    path = context.checkout_dir(checkout.repo, checkout.directory)
    return GitArtifact(name="code", path=path, repo=checkout.repo, revision=checkout.revision)
