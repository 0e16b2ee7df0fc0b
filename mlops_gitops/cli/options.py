"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file (see `mlops-gitops config example`). Environment variables "
        "MLOPS_GITOPS_<GROUP>__<NAME> override it.",
        envvar="MLOPS_GITOPS_CONFIG",
        exists=True,
        dir_okay=False,
    ),
]
