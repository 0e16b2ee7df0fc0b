"""``mlops-gitops gitops init``, ``promote`` and ``rollback``: the GitOps repo by hand.

The same writer the service uses runs here, so a manual promotion is locked,
checked (environment, registry version, stale write) and traced (lineage
trailers, with a ``cli-<uuid>`` trigger event id) exactly like an automatic one.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from gitops.mlflow_registry import MlflowModelRegistry
from gitops.promotion import CommitResult, PromotionRequest
from gitops.registry import registry_uri
from gitops.scaffold import init_repo
from gitops.settings import ScaffoldSettings
from gitops.writer import GitOpsWriter
from mlops_gitops.cli.options import ConfigOption
from mlops_gitops.mlflow_requests import bound_mlflow_requests
from mlops_gitops.settings import MlflowSettings, load_settings

gitops_app = typer.Typer(help="Create and inspect the GitOps repository Argo CD syncs.", no_args_is_help=True)

EnvironmentOption = Annotated[str, typer.Option("--env", "-e", help="Target environment (an overlay), e.g. staging.")]


def register(root: typer.Typer) -> None:
    """Add ``gitops init`` and the top-level ``promote``/``rollback`` commands to the root app."""
    root.add_typer(gitops_app, name="gitops")
    root.command("promote")(promote)
    root.command("rollback")(rollback)


def _with_options(scaffold: ScaffoldSettings, options: dict[str, str | None]) -> ScaffoldSettings:
    """``gitops.scaffold`` with the options given on the command line in place of its keys, validated as one."""
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return ScaffoldSettings.model_validate({**scaffold.model_dump(), **given})
    except ValidationError as e:
        error = e.errors()[0]
        key = str(error["loc"][0])
        option = "--repo-url" if key == "argocd_repo_url" else f"--{key.replace('_', '-')}"
        raise typer.BadParameter(f"{given.get(key)!r}: {error['msg']}", param_hint=option) from e


@gitops_app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the repo in (new or empty).", file_okay=False)],
    *,
    repo_url: Annotated[
        str | None,
        typer.Option(help="URL Argo CD pulls the repo from (Applications, AppProject); default gitops.scaffold."),
    ] = None,
    branch: Annotated[
        str | None, typer.Option(help="Branch Argo CD tracks and the bot writes; default gitops.branch.")
    ] = None,
    model_name: Annotated[
        str | None, typer.Option(help="Registered model the server loads; default gitops.scaffold.model_name.")
    ] = None,
    feature_service: Annotated[
        str | None,
        typer.Option(help="Feast feature service the server looks features up with; default gitops.scaffold."),
    ] = None,
    entity_key: Annotated[
        str | None, typer.Option(help="Join key of the entity a request names; default gitops.scaffold.entity_key.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create a GitOps repo: kustomize base and overlays of the model server, Argo CD objects, one commit.

    The model, its feature service and entity key are required, as options or in gitops.scaffold; the
    destination cluster and whether the overlays autoscale come from gitops.scaffold in the config.
    """
    settings = load_settings(config).gitops
    options = {
        "argocd_repo_url": repo_url,
        "model_name": model_name,
        "feature_service": feature_service,
        "entity_key": entity_key,
    }
    scaffold = _with_options(settings.scaffold, options)
    branch = branch or settings.branch
    author = (settings.bot_name, settings.bot_email)
    files = init_repo(directory, repo_url=scaffold.argocd_repo_url, branch=branch, author=author, scaffold=scaffold)
    typer.echo(f"created {len(files)} files in {directory} (git branch {branch})")
    typer.echo(f"next: git -C {directory} push <remote> {branch}, then kubectl apply -f {directory}/argocd/")


def promote(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Registered model version number.")],
    env: EnvironmentOption,
    config: ConfigOption = None,
) -> None:
    """Deploy a registered model version to an environment with one GitOps commit."""
    settings = load_settings(config)
    request = PromotionRequest.checked(
        model_name=model,
        version=version,
        model_uri=registry_uri(model, version),
        environment=env,
        trigger_event_id=f"cli-{uuid.uuid4()}",
    )
    _report(GitOpsWriter(settings.gitops, _registry(settings.mlflow)).promote(request))


def rollback(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    env: EnvironmentOption,
    reason: Annotated[str, typer.Option(help="Why; goes into the commit message.")] = "manual rollback",
    config: ConfigOption = None,
) -> None:
    """Roll an environment back to the version deployed before the current one."""
    settings = load_settings(config)
    writer = GitOpsWriter(settings.gitops, _registry(settings.mlflow))
    _report(writer.rollback(model, env, reason=reason, trigger_event_id=f"cli-{uuid.uuid4()}"))


def _registry(settings: MlflowSettings) -> MlflowModelRegistry:
    """The registry, with MLflow's calls bounded as in the service, so a down server fails in seconds."""
    bound_mlflow_requests(settings)
    return MlflowModelRegistry(settings.tracking_uri)


def _report(result: CommitResult) -> None:
    if result.sha is None:
        typer.echo(f"{result.environment} already runs version {result.version}; nothing committed")
        return
    where = result.pull_request_url or "pushed"
    typer.echo(f"{result.environment} -> version {result.version}: commit {result.sha[:12]} ({where})")
