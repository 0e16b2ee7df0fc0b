"""Argo templates that run one pipeline step in the service's image (or the ML repository's, for its code).

A step always runs as ``python -m workflows.steps <step> --params <request>
--output <file>`` (see ``workflows.steps``), where the request is the JSON of
a ``StepRequest``. The outputs of upstream steps are not known when the
Workflow is rendered: Argo fills them in, so the request is assembled as JSON
text around ``{{inputs.parameters.<step>}}`` placeholders, each of which Argo
replaces with the JSON document that step wrote.

The placeholders name the template's own inputs, not the upstream task:
Argo resolves ``{{tasks.<step>.outputs...}}`` only inside a DAG task's
``arguments``, and its controller refuses a template that refers to another
task directly. So a template declares one input parameter per step it reads
(:func:`upstream_inputs`) and its DAG task fills each from that step's result
(:func:`upstream_arguments`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from hera.workflows import Artifact, Container, Parameter, Resources, RetryStrategy, SecretEnvFrom
from hera.workflows import models as m
from pydantic import BaseModel

from workflows.pipelines.context import WORK_MOUNT, WORK_VOLUME, RenderContext
from workflows.steps.contract import StepRuntime

RESULT_PARAMETER = "result"
CONTAINER_RESULT_PATH = "/tmp/outputs/result.json"  # noqa: S108 - a path inside the step's own container


def upstream_reference(step: str) -> str:
    """Where a template reads the result of ``step``: its own input parameter of that name."""
    return f"{{{{inputs.parameters.{step}}}}}"


def upstream_inputs(upstream: Sequence[str]) -> list[Parameter]:
    """The input parameters of a template that reads the results of ``upstream``."""
    return [Parameter(name=step) for step in upstream]


def upstream_arguments(upstream: Sequence[str]) -> list[Parameter]:
    """The DAG task's arguments that fill :func:`upstream_inputs` with each upstream step's result."""
    return [
        Parameter(name=step, value=f"{{{{tasks.{step}.outputs.parameters.{RESULT_PARAMETER}}}}}") for step in upstream
    ]


def step_request(params: BaseModel, upstream: Sequence[str], runtime: StepRuntime, workflow_name: str) -> str:
    """JSON text of a ``StepRequest`` whose upstream outputs Argo substitutes at run time."""
    upstream_entries = ", ".join(f"{json.dumps(step)}: {upstream_reference(step)}" for step in upstream)
    return (
        f'{{"params": {params.model_dump_json()}, "upstream": {{{upstream_entries}}}, '
        f'"runtime": {runtime.model_dump_json()}, "workflow_name": {json.dumps(workflow_name)}}}'
    )


def step_arguments(step: str, request: str, output_path: str) -> list[str]:
    """The command-line arguments of ``python -m workflows.steps``."""
    return [step, "--params", request, "--output", output_path]


def step_command(step: str, request: str, output_path: str) -> list[str]:
    return ["python", "-m", "workflows.steps", *step_arguments(step, request, output_path)]


def result_output(path: str) -> Parameter:
    return Parameter(name=RESULT_PARAMETER, value_from=m.ValueFrom(path=path))


def work_volume_mount() -> m.VolumeMount:
    return m.VolumeMount(name=WORK_VOLUME, mount_path=WORK_MOUNT)


def retry_strategy(context: RenderContext) -> RetryStrategy:
    """Retry what may heal: a pod error (eviction, node loss) or a step exiting with EX_TEMPFAIL.

    ``python -m workflows.steps`` exits with 75 (EX_TEMPFAIL) on a ``TemporaryError`` and
    with 1 or 2 when retrying cannot help, so a bad request is not run three times.
    """
    return RetryStrategy(
        limit=str(context.settings.step_retry_limit),
        retry_policy="Always",
        expression=f"lastRetry.status == 'Error' || asInt(lastRetry.exitCode) == {os.EX_TEMPFAIL}",
        backoff=m.Backoff(duration="30s", factor="2", max_duration="10m"),
    )


def feature_store_credentials(context: RenderContext) -> list[SecretEnvFrom] | None:
    """The feature store's Secret as the step's variables, where Feast and its S3 client look for them."""
    secret = context.settings.feature_store.credentials_secret
    return None if secret is None else [SecretEnvFrom(name=secret)]


def step_container(
    context: RenderContext,
    step: str,
    params: BaseModel,
    upstream: Sequence[str],
    inputs: Sequence[Artifact] = (),
) -> Container:
    """A container template running ``step`` and exposing its result as the ``result`` output parameter."""
    request = step_request(params, upstream, context.runtime(), context.run_name)
    resources = context.settings.step_resources
    return Container(
        name=step,
        image=context.image(step),
        image_pull_policy=context.settings.image_pull_policy,
        command=step_command(step, request, CONTAINER_RESULT_PATH),
        inputs=[*upstream_inputs(upstream), *inputs],
        outputs=[result_output(CONTAINER_RESULT_PATH)],
        resources=Resources(
            cpu_request=resources.cpu,
            cpu_limit=resources.cpu,
            memory_request=resources.memory,
            memory_limit=resources.memory,
        ),
        volume_mounts=[work_volume_mount()],
        env_from=feature_store_credentials(context),
        retry_strategy=retry_strategy(context),
    )


def result_collector(context: RenderContext, step: str) -> Container:
    """A tiny container that publishes the result a cluster resource left on the work volume.

    A ``SparkApplication`` driver or a ``RayJob`` cannot set Argo output
    parameters, so those steps write their result to the work volume and this
    template, named after the step, exposes it like any container step would.
    """
    path = context.result_path(step)
    return Container(
        name=step,
        image=context.settings.image,
        image_pull_policy=context.settings.image_pull_policy,
        command=["cat", path],
        outputs=[result_output(path)],
        resources=Resources(cpu_request="50m", memory_request="64Mi", memory_limit="64Mi"),
        volume_mounts=[work_volume_mount()],
        retry_strategy=retry_strategy(context),
    )
