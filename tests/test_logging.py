"""One log stream, one format: the standard library's records come out as structlog's, redacted, without noise.

Each case runs in a fresh interpreter, as a process of the service configures logging once at its start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-value-of-twenty-chars"

_PROGRAM = f"""
import logging
from core.logging import configure_logging, get_logger
configure_logging("INFO", json=True, secrets=[{SECRET!r}])
logging.getLogger("uvicorn.error").info("Started server process [%d]", 7)
logging.getLogger("botocore.credentials").info("Found credentials in environment variables.")
logging.getLogger("feast.infra.registry.registry").info("Registry cache expired, so refreshing")
logging.getLogger("mlflow.tracking").warning("retrying with token {SECRET}")
try:
    raise ValueError("bad input")
except ValueError:
    logging.getLogger("listeners.http").exception("request failed")
get_logger("triggers.dispatcher").info("dispatched", event_id="e-1")
import warnings
warnings.warn("the old call, with {SECRET}", UserWarning, stacklevel=1)
configure_logging("INFO", json=True)
logging.getLogger("uvicorn.error").info("configured twice")
"""


def _lines() -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return [json.loads(line) for line in done.stderr.splitlines()]


def test_library_records_are_json_lines_naming_their_logger_and_redacted_like_the_service_own() -> None:
    lines = _lines()

    by_event = {line["event"]: line for line in lines}
    started = by_event["Started server process [7]"]
    assert started["logger"] == "uvicorn.error" and started["level"] == "info" and started["timestamp"]
    assert by_event["retrying with token ***"]["level"] == "warning"
    assert SECRET not in json.dumps(lines)
    failed = by_event["request failed"]
    assert failed["level"] == "error" and "ValueError: bad input" in failed["exception"]
    assert by_event["dispatched"]["event_id"] == "e-1"


def test_credential_discovery_and_registry_refreshes_stay_out_and_a_second_configure_prints_once() -> None:
    events = [line["event"] for line in _lines()]

    assert not [event for event in events if "credentials" in event or "Registry cache" in event]
    assert events.count("configured twice") == 1


def test_a_warning_is_a_json_line_of_its_own_redacted() -> None:
    (warned,) = [line for line in _lines() if line.get("logger") == "py.warnings"]

    assert warned["level"] == "warning"
    assert "UserWarning: the old call, with ***" in warned["event"]
