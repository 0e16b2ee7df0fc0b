"""The pipelines as Prefect flows: the same steps, in the same order, as the Argo DAGs.

Each pipeline is one Prefect flow (named after the pipeline) and each step
one Prefect task, built from the shared tables in ``workflows.steps``, so the
local and the cluster run cannot drift apart. Every finished step's outputs
are handed to ``on_step`` as they appear; a failing step is reported with its
name and error, and fails the flow run in Prefect as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from pydantic import BaseModel

from workflows.steps import PIPELINE_TASKS, STEPS, Task
from workflows.steps.contract import StepRequest, StepRuntime

StepCallback = Callable[[str, dict[str, Any]], None]


class StepFailedError(RuntimeError):
    """A step raised; carries the step name so the run's status can say which one."""

    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(f"step {step} failed: {type(error).__name__}: {error}")
        self.step = step


def _task_params(pipeline_params: BaseModel, spec: Task) -> BaseModel | None:
    if spec.params_field is None:
        return pipeline_params
    value: BaseModel | None = getattr(pipeline_params, spec.params_field)
    return value


def _run_step(step_name: str, request: StepRequest[Any]) -> dict[str, Any]:
    output = STEPS[step_name].load()(request)
    result: dict[str, Any] = output.model_dump(mode="json")
    return result


def _run_pipeline(
    pipeline: str, params: BaseModel, runtime: StepRuntime, run_name: str, on_step: StepCallback
) -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {}
    for spec in PIPELINE_TASKS[pipeline]:
        step_params = _task_params(params, spec)
        if step_params is None:
            continue
        step = STEPS[spec.step]
        request = StepRequest[step.params_model](  # type: ignore[name-defined]
            params=step_params,
            upstream={name: outputs[name] for name in step.reads if name in outputs},
            runtime=runtime,
            workflow_name=run_name,
        )
        try:
            outputs[spec.step] = task(name=spec.step, persist_result=False)(_run_step)(spec.step, request)
        except Exception as e:
            raise StepFailedError(spec.step, e) from e
        on_step(spec.step, outputs[spec.step])
    return outputs


def run_flow(
    pipeline: str, params: BaseModel, runtime: StepRuntime, run_name: str, on_step: StepCallback
) -> dict[str, dict[str, Any]]:
    """Run ``pipeline`` as the Prefect flow of that name, recorded as flow run ``run_name``."""
    pipeline_flow: Any = flow(name=pipeline, validate_parameters=False, persist_result=False, log_prints=True)(
        _run_pipeline
    )
    outputs: dict[str, dict[str, Any]] = pipeline_flow.with_options(flow_run_name=run_name)(
        pipeline, params, runtime, run_name, on_step
    )
    return outputs
