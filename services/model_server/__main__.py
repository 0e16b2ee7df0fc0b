"""Entrypoint: ``python -m services.model_server [--host H] [--port P]``.

The model is configured by environment variables only (the ConfigMap); the
listening address is a command-line concern of the container, so it is an
argument. A missing or invalid variable ends the process with one line per
problem before anything is loaded.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from pydantic import ValidationError

from core.logging import configure_logging

from .app import create_app
from .settings import ModelServerSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.model_server", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all interfaces)")  # noqa: S104
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--log-level", default="INFO", help="log level (default: INFO)")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = ModelServerSettings()
    except ValidationError as e:
        for error in e.errors():
            variable = "_".join(str(part) for part in error["loc"]).upper()
            print(f"model server configuration: {variable}: {error['msg']}", file=sys.stderr)
        return 2
    # A model download draws progress bars meant for a terminal; in a pod they are noise between log records.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # No access log: a line per prediction costs more than the prediction; /metrics counts every request.
    # uvicorn's own records go through the structured logging above (log_config=None), not its plain format.
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=False,
        log_config=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
