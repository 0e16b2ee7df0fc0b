"""Action kind ``workflow``: submit a pipeline run with parameters templated from the events.

The run name is derived from the action key (``workflows.naming.run_name``)
and the backends treat a second submit of a name as "already there", so a
retried action never starts a second run. Parameters are rendered from the
rule's templates and validated by the pipeline's own parameter model before
anything is submitted: a value outside the allow-lists is a ``PermanentError``
naming the parameter, not a broken run. Which repositories' code a run may
execute (``workflows.code_repos``) is the backend's check, made at submission.

Runs take minutes to hours, so ``perform`` returns as soon as the run is
submitted and the dispatcher calls ``follow`` until it has finished; a
follow-up action (``then``) reads the finished run's step outputs.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import Field, ValidationError, field_validator, model_validator

from core.errors import PermanentError
from triggers.actions.base import ActionKind, ActionOutcome, ActionRequest, ActionStatus
from triggers.rules.config import ActionSpec
from triggers.rules.templating import check_template
from workflows.backend import EVENT_ID_LABEL, RunPhase, WorkflowBackend
from workflows.naming import run_name
from workflows.params import PIPELINES

RULE_LABEL = "mlops-gitops.io/rule"


class WorkflowActionSpec(ActionSpec):
    kind: Literal["workflow"] = "workflow"
    pipeline: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("pipeline")
    @classmethod
    def _known_pipeline(cls, pipeline: str) -> str:
        if pipeline not in PIPELINES:
            raise ValueError(f"unknown pipeline {pipeline!r}; known: {', '.join(sorted(PIPELINES))}")
        return pipeline

    @field_validator("params")
    @classmethod
    def _templates_parse(cls, params: dict[str, Any]) -> dict[str, Any]:
        _check_templates(params)
        return params

    @model_validator(mode="after")
    def _required_params_given(self) -> WorkflowActionSpec:
        """A parameter without a default (a run's model name, its data) must be in the rule, not found missing
        at the first event."""
        fields = PIPELINES[self.pipeline].model_fields
        missing = sorted(name for name, field in fields.items() if field.is_required() and name not in self.params)
        if missing:
            raise ValueError(f"pipeline {self.pipeline} needs params {', '.join(missing)}: they have no default")
        return self


def _check_templates(value: Any) -> None:
    if isinstance(value, str):
        check_template(value)
    elif isinstance(value, dict):
        for item in value.values():
            _check_templates(item)
    elif isinstance(value, list):
        for item in value:
            _check_templates(item)


@runtime_checkable
class CancellableBackend(Protocol):
    """A backend that can stop a run (used by the ``replace`` concurrency policy when available)."""

    def cancel(self, run_name: str) -> None: ...


class WorkflowPipelineAction(ActionKind[WorkflowActionSpec]):
    kind = "workflow"
    spec_model = WorkflowActionSpec

    def __init__(self, backend: WorkflowBackend) -> None:
        self._backend = backend

    def perform(self, spec: WorkflowActionSpec, request: ActionRequest) -> ActionOutcome:
        model = PIPELINES[spec.pipeline]
        rendered = request.render_tree(spec.params, "params")
        if "trigger_event_id" in model.model_fields:
            rendered.setdefault("trigger_event_id", request.event.id)
        try:
            params = model.model_validate(rendered)
        except ValidationError as e:
            problems = "; ".join(f"params.{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise PermanentError(
                f"trigger {request.rule!r}: pipeline {spec.pipeline!r} refuses its parameters: {problems}"
            ) from e
        name = run_name(spec.pipeline, request.action_key)
        labels = {EVENT_ID_LABEL: request.event.id, RULE_LABEL: request.rule}
        self._backend.submit(spec.pipeline, params, run_name=name, labels=labels)
        detail = {"pipeline": spec.pipeline, "params": params.model_dump(mode="json")}
        return ActionOutcome(ActionStatus.RUNNING, name, message="submitted", detail=detail)

    def follow(self, spec: WorkflowActionSpec, target: str) -> ActionOutcome:
        status = self._backend.status(target)
        detail = {"pipeline": spec.pipeline, "phase": str(status.phase)}
        if not status.finished:
            return ActionOutcome(ActionStatus.RUNNING, target, status.message, detail=detail)
        result = ActionStatus.SUCCEEDED if status.phase == RunPhase.SUCCEEDED else ActionStatus.FAILED
        return ActionOutcome(result, target, status.message, outputs=dict(status.outputs), detail=detail)

    def cancel(self, target: str) -> bool:
        if not isinstance(self._backend, CancellableBackend):
            return False
        self._backend.cancel(target)
        return True
