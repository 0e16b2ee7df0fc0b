"""Container entrypoint of every step: ``python -m workflows.steps STEP --params JSON --output PATH``.

Argo runs each pipeline step as this command and reads the JSON written to
``--output`` as the step's output parameter. The exit code tells Argo's retry
strategy what happened: 0 done, 2 the request is invalid, 1 a permanent
failure (retrying cannot help), 75 (EX_TEMPFAIL) a temporary one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from core.errors import PermanentError, TemporaryError
from core.logging import configure_logging, get_logger
from workflows.steps import STEPS
from workflows.steps.contract import StepRequest

EXIT_PERMANENT = 1
EXIT_INVALID_REQUEST = 2
EXIT_TEMPORARY = 75

log = get_logger("workflows.steps")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workflows.steps", description=__doc__)
    parser.add_argument("step", choices=sorted(STEPS), help="Step to run.")
    parser.add_argument("--params", required=True, help="Step request as JSON: params, upstream, runtime, run name.")
    parser.add_argument("--output", required=True, type=Path, help="File the step's outputs are written to as JSON.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    step = STEPS[args.step]
    try:
        request = StepRequest[step.params_model].model_validate_json(args.params)  # type: ignore[name-defined]
    except ValidationError as e:
        log.error("step.invalid_request", step=step.name, error=str(e))
        return EXIT_INVALID_REQUEST
    try:
        output = step.load()(request)
    except PermanentError as e:
        log.error("step.failed", step=step.name, error=str(e), retry=False)
        return EXIT_PERMANENT
    except TemporaryError as e:
        log.error("step.failed", step=step.name, error=str(e), retry=True)
        return EXIT_TEMPORARY
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(output.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
