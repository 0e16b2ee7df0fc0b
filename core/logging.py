"""Structured logging for every process of the service.

structlog renders one JSON object per line in production (what log pipelines
ingest) and a readable console line on a terminal. The records of libraries
that log through the standard library (uvicorn, Feast, botocore, MLflow), and
Python's warnings, go through the same processors, so one stream never mixes
two formats and each line names its logger. A redaction processor runs last before rendering, so a
secret can never reach a log line by accident: any key that looks like a
credential is masked, and so is any configured secret value wherever it
appears inside a string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_SENSITIVE_KEY = re.compile(r"(secret|token|password|passwd|authorization|signature|api[_-]?key)", re.I)
REDACTED = "***"
# Libraries that log every HTTP request at INFO (Prefect's client, MLflow's, Hera's), where they found credentials
# (botocore) or each refresh of a registry cache (Feast): noise, not events.
_CHATTY_LIBRARIES = ("httpx", "httpcore", "urllib3", "botocore", "feast")


class SecretRedactor:
    """structlog processor masking credential-like keys and known secret values."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self._values = sorted({v for v in secret_values if v}, key=len, reverse=True)

    def add(self, secret_values: Iterable[str]) -> None:
        self._values = sorted(set(self._values) | {v for v in secret_values if v}, key=len, reverse=True)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._values:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: REDACTED if _SENSITIVE_KEY.search(str(k)) else self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        return value

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if _SENSITIVE_KEY.search(key):
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self.scrub(event_dict[key])
        return event_dict


redactor = SecretRedactor()


class _StructuredHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs, told apart from others (a test runner's) when it runs again."""


def configure_logging(level: str = "INFO", json: bool | None = None, secrets: Iterable[str] = ()) -> None:
    """Configure structlog and the stdlib root logger once, at process start."""
    redactor.add(secrets)
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = _StructuredHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for configured_before in [h for h in root.handlers if isinstance(h, _StructuredHandler)]:
        root.removeHandler(configured_before)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for chatty in _CHATTY_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    # Libraries' warnings (Feast turns every DeprecationWarning on for the process) become records of the same
    # stream, not raw text on stderr.
    logging.captureWarnings(True)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
