"""Waiting on a run of the local backend, for the tests that run whole pipelines through it."""

from __future__ import annotations

import time

from workflows.backend import RunStatus
from workflows.local import LocalBackend

RUN_TIMEOUT_S = 2400  # a whole retrain on this 2-core machine under load; a hung run still ends the test


def wait_for(backend: LocalBackend, name: str) -> RunStatus:
    """The run's status once it has finished; fails the test if it has not within ``RUN_TIMEOUT_S``."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = backend.status(name)
        if status.finished:
            return status
        time.sleep(2)
    raise AssertionError(f"run {name} did not finish in {RUN_TIMEOUT_S}s: {backend.status(name)}")
