"""The ``mlops-gitops`` command line.

One typer app; each area adds its commands from its own module with one
``add_typer``/``command`` line below. :func:`main` turns the service's own
errors into one clear line and an exit code instead of a traceback.
"""

from __future__ import annotations

import sys

import typer

from core.errors import MlopsGitopsError, TemporaryError
from mlops_gitops.cli import config_cmd, events_cmd, gitops, ml_repo, pipelines, serve_cmd

app = typer.Typer(
    name="mlops-gitops",
    help="Event-driven GitOps automation for MLOps: git pushes, new data and MLflow promotions "
    "become pipeline runs and GitOps commits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("serve")(serve_cmd.serve)
app.add_typer(config_cmd.app, name="config")
app.add_typer(events_cmd.app, name="events")
gitops.register(app)
ml_repo.register(app)
pipelines.register(app)


def main() -> None:
    try:
        app()
    except MlopsGitopsError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(1 if isinstance(e, TemporaryError) else 2)
