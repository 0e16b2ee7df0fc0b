"""``mlops-gitops render`` and ``run``: a pipeline by hand, exactly as the service would start it.

Parameters given as ``--param key=value`` are validated by the pipeline's own
parameter model before anything is rendered or submitted, so a bad value is
one clear line and exit status 2, never a half-submitted run. The run name
comes from an action key as in the service: re-running with the same
``--event-id`` finds the earlier run instead of starting a second one.
``render --repository-image`` shows the run the service submits for a
repository whose ``mlops.yaml`` names its own image, without fetching it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Literal, NoReturn, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError

from core.errors import PermanentError, TemporaryError
from core.logging import configure_logging
from core.validation import validation_problems
from mlops_gitops.cli.options import ConfigOption
from mlops_gitops.settings import load_settings
from workflows.argo.repository_image import given_image
from workflows.backend import EVENT_ID_LABEL, TRACE_ID_LABEL, RunPhase, RunStatus, WorkflowBackend
from workflows.factory import make_backend
from workflows.naming import run_name
from workflows.params import PIPELINES
from workflows.pipelines import build_workflow
from workflows.settings import WorkflowSettings

PipelineArgument = Annotated[str, typer.Argument(help=f"Pipeline to use: {', '.join(sorted(PIPELINES))}.")]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="Pipeline parameter as key=value. Dotted keys reach nested models (etl.source_uri=...); "
        "a repeated key makes a list (partitions=a -p partitions=b); a value starting with '[' or '{' is JSON.",
    ),
]
NameOption = Annotated[
    str | None, typer.Option("--name", help="Run name; default: derived from the event id (run) or parameters.")
]
EventIdOption = Annotated[str | None, typer.Option("--event-id", help="Trigger event id to label the run with.")]
TraceIdOption = Annotated[str | None, typer.Option("--trace-id", help="Trace id to label the run with.")]
RepositoryImageOption = Annotated[
    str | None,
    typer.Option(
        "--repository-image",
        help="Render the run as when the repository's mlops.yaml names this image (dependencies.image, no tag): "
        "the steps running its code run in it at the run's commit. It must be under workflows.argo.repository_images.",
    ),
]


def register(root: typer.Typer) -> None:
    root.command("render")(render)
    root.command("run")(run)


def render(
    pipeline: PipelineArgument,
    *,
    param: ParamOption = None,
    name: NameOption = None,
    event_id: EventIdOption = None,
    trace_id: TraceIdOption = None,
    repository_image: RepositoryImageOption = None,
    config: ConfigOption = None,
) -> None:
    """Print the Argo Workflow YAML of PIPELINE, with its SparkApplication and RayJob manifests embedded."""
    params = _validated_params(pipeline, param or [])
    settings = load_settings(config).workflows.argo
    name = name or run_name(pipeline, f"cli:{pipeline}:{params.model_dump_json()}")
    image = None
    if repository_image is not None:
        try:
            params, image = given_image(params, repository_image, settings.repository_images)
        except PermanentError as e:
            _refuse(f"--repository-image: {e}")
    workflow = build_workflow(
        pipeline, params, run_name=name, labels=_labels(event_id, trace_id), settings=settings, repository_image=image
    )
    typer.echo(workflow.to_yaml(), nl=False)


def run(
    pipeline: PipelineArgument,
    *,
    backend: Annotated[
        Literal["local", "argo"] | None,
        typer.Option("--backend", "-b", help="Where to run; default: workflows.backend of the configuration."),
    ] = None,
    param: ParamOption = None,
    name: NameOption = None,
    event_id: EventIdOption = None,
    trace_id: TraceIdOption = None,
    wait: Annotated[bool, typer.Option(help="Report progress until the run finishes.")] = True,
    poll_seconds: Annotated[float, typer.Option(min=0.1, help="Seconds between status checks.")] = 2.0,
    config: ConfigOption = None,
) -> None:
    """Run PIPELINE on the local backend or submit it to Argo, and report its progress until it finishes."""
    params = _validated_params(pipeline, param or [])
    loaded = load_settings(config)
    # Log lines go to stderr, so stdout carries only the progress report.
    configure_logging(loaded.logging.level, loaded.logging.json_format, secrets=loaded.secret_values())
    settings = loaded.workflows
    if backend is not None:
        settings = _on_backend(settings, backend)
    event_id = event_id or f"cli-{uuid.uuid4()}"
    name = name or run_name(pipeline, f"cli:{pipeline}:{event_id}")
    runner = make_backend(settings)
    labels = _labels(event_id, trace_id or uuid.uuid4().hex)
    submitted = runner.submit(pipeline, params, run_name=name, labels=labels)
    typer.echo(f"{submitted}: submitted to the {settings.backend} backend")
    if not wait:
        return
    final = _follow(runner, submitted, poll_seconds)
    if final.phase is not RunPhase.SUCCEEDED:
        typer.secho(f"{submitted}: {final.phase} {final.message}".rstrip(), err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


def _follow(runner: WorkflowBackend, name: str, poll_seconds: float) -> RunStatus:
    """Print each phase change and each step result as it appears; return the final status.

    The run goes on when the backend is briefly unreachable, so a temporary error only delays the report.
    """
    phase: RunPhase | None = None
    reported: set[str] = set()
    while True:
        try:
            status = runner.status(name)
        except TemporaryError as e:
            typer.secho(f"{name}: status unavailable, asking again: {e}", err=True, fg=typer.colors.YELLOW)
            time.sleep(poll_seconds)
            continue
        if status.phase is not phase:
            phase = status.phase
            typer.echo(f"{name}: {phase}")
        for step, output in status.outputs.items():
            if step not in reported:
                reported.add(step)
                typer.echo(f"{name}: step {step} done: {json.dumps(output, default=str)}")
        if status.finished:
            return status
        time.sleep(poll_seconds)


def _on_backend(settings: WorkflowSettings, backend: str) -> WorkflowSettings:
    """The settings as if the configuration named ``backend``, checked as a configuration naming it would be."""
    try:
        return WorkflowSettings.model_validate({**dict(settings), "backend": backend})
    except ValidationError as e:
        _refuse(f"--backend {backend}: " + "; ".join(validation_problems(e, within="workflows")))


def _validated_params(pipeline: str, assignments: list[str]) -> BaseModel:
    """The pipeline's parameter model from ``key=value`` strings; exit 2 with one line on any problem."""
    if pipeline not in PIPELINES:
        _refuse(f"unknown pipeline {pipeline!r}; choose one of {', '.join(sorted(PIPELINES))}")
    model = PIPELINES[pipeline]
    try:
        return model.model_validate(_nested(model, assignments))
    except ValidationError as e:
        _refuse(f"invalid parameters for {pipeline}: " + "; ".join(validation_problems(e)))
    except ValueError as e:
        _refuse(str(e))


def _nested(model: type[BaseModel], assignments: list[str]) -> dict[str, Any]:
    """The model's input as nested dicts; a single value for a list field becomes a list of one."""
    values: dict[str, Any] = {}
    for assignment in assignments:
        key, separator, raw = assignment.partition("=")
        if not separator or not key:
            raise ValueError(f"--param {assignment!r} is not key=value")
        value: Any = raw
        if raw[:1] in ("[", "{"):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ValueError(f"--param {key}: value is not valid JSON ({e.msg})") from e
        *parents, leaf = key.split(".")
        target = values
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise ValueError(f"--param {key}: {parent} is both a value and a group")
        if leaf in target:
            previous = target[leaf]
            target[leaf] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            target[leaf] = [value] if isinstance(value, str) and _is_sequence_field(model, key.split(".")) else value
    return values


def _is_sequence_field(model: type[BaseModel], path: list[str]) -> bool:
    """Whether the field at ``path`` (through nested, possibly optional, models) holds a list or tuple."""
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    candidates = [field.annotation, *get_args(field.annotation)]
    if len(path) > 1:
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        return bool(nested) and _is_sequence_field(nested[0], path[1:])
    return any(get_origin(c) in (list, tuple) for c in candidates)


def _labels(event_id: str | None, trace_id: str | None) -> dict[str, str]:
    given = {EVENT_ID_LABEL: event_id, TRACE_ID_LABEL: trace_id}
    return {key: value for key, value in given.items() if value}


def _refuse(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)
