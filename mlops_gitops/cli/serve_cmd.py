"""``mlops-gitops serve``: run the service."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_gitops.cli.options import ConfigOption
from mlops_gitops.service import Service
from mlops_gitops.settings import load_settings


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (overrides server.host).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (overrides server.port).")] = None,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev",
            help="Start although open webhook sources have no secret, accepting their unsigned deliveries. "
            "For a laptop only; warns loudly.",
        ),
    ] = False,
) -> None:
    """Start the webhook app, the enabled listeners and the dispatcher."""
    settings = load_settings(config)
    if host is not None:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    if insecure_dev:
        settings.listeners.insecure_dev = True
    Service.build(settings).serve()
