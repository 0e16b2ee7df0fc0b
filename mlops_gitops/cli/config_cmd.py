"""``mlops-gitops config``: check a config file, or print a complete commented example."""

from __future__ import annotations

import textwrap
from importlib.resources import files

import typer

from mlops_gitops.cli.options import ConfigOption
from mlops_gitops.service import check_rules
from mlops_gitops.settings import ConfigError, load_settings
from triggers.rules.loader import RulesError

app = typer.Typer(help="Check or generate the service's config file.", no_args_is_help=True)

EXAMPLE = files("mlops_gitops").joinpath("config.example.yaml")
EXAMPLE_RULES = files("mlops_gitops").joinpath("rules.example.yaml")


def example_config() -> str:
    """The example config with the example rules inline, so the printed file passes ``config check`` as it is."""
    return EXAMPLE.read_text() + textwrap.indent(EXAMPLE_RULES.read_text(), "    ")


@app.command("check")
def check(config: ConfigOption = None) -> None:
    """Validate a config file and its rules file (environment overrides applied); exit 2 listing each problem."""
    try:
        settings = load_settings(config)
    except ConfigError as e:
        for problem in e.problems:
            typer.echo(f"{config}: {problem}", err=True)
        raise typer.Exit(2) from e
    try:
        rules = check_rules(settings)
    except RulesError as e:
        for problem in e.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from e
    typer.echo(f"ok: {len(rules)} trigger rules in {settings.rules.source}")
    typer.echo(
        f"ok: ledger {settings.ledger.url.split('://', 1)[0]}, workflows backend {settings.workflows.backend}, "
        f"gitops {settings.gitops.mode} to {settings.gitops.branch}"
    )


@app.command("example")
def example() -> None:
    """Print a complete, commented config file, example trigger rules included, to start from."""
    typer.echo(example_config(), nl=False)
