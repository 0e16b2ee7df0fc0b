"""``mlops-gitops init ml-repo DIR``: scaffold the ML repository the pipelines train.

The repository holds the churn example in the ML template's layout, with the
``mlops.yaml`` contract that tells the service its datasets, features, hooks,
tests and dependencies (see ``workflows.mlrepo``).
"""

from __future__ import annotations

import email.utils
from pathlib import Path
from typing import Annotated

import typer

from mlops_gitops.cli.options import ConfigOption
from mlops_gitops.settings import load_settings
from workflows.mlrepo.scaffold import init_ml_repo

init_app = typer.Typer(help="Create the repositories the service works with.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(init_app, name="init")


def _author(value: str) -> tuple[str, str]:
    name, address = email.utils.parseaddr(value)
    if not name or "@" not in address:
        raise typer.BadParameter(f"{value!r} is not 'Name <email>'")
    return name, address


@init_app.command("ml-repo")
def ml_repo(
    directory: Annotated[Path, typer.Argument(help="Directory to create the repo in (new or empty).", file_okay=False)],
    branch: Annotated[str, typer.Option(help="Branch of the first commit; the one the rules watch.")] = "main",
    author: Annotated[str, typer.Option(help="Author of the first commit, 'Name <email>'.")] = (
        "ML team <ml-team@example.com>"
    ),
    feature_repo: Annotated[
        Path | None,
        typer.Option(help="Feast definitions to copy; default: workflows.local.feature_repo_source of the config."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create an ML repository: contract, configs, model, training script, Feast definitions, tests, Dockerfile."""
    source = feature_repo or Path(load_settings(config).workflows.local.feature_repo_source)
    files = init_ml_repo(directory, feature_repo=source, author=_author(author), branch=branch)
    typer.echo(f"created {len(files)} files in {directory} (git branch {branch})")
    typer.echo(f"next: cd {directory} && python -m pytest, then push it and point a retrain rule at it")
