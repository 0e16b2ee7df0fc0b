"""Durable records of local runs: what the backend reports through ``status``.

One small JSON file per run name, created exclusively, is what makes
``submit`` idempotent across retries and process restarts: whoever creates the
file owns the run, everyone else finds it. The record also names the process
running it, so a run whose process died is reported as an error instead of
``Running`` forever.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.errors import PermanentError
from workflows.backend import RunPhase, RunStatus

_FINAL = (RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.ERROR)


class RunRecord(BaseModel):
    name: str
    pipeline: str
    params: dict[str, Any]
    labels: dict[str, str] = Field(default_factory=dict)
    phase: RunPhase = RunPhase.PENDING
    message: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
    pid: int = Field(default_factory=os.getpid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunRecords:
    """Run records in one directory; safe for the threads of one process."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self._directory / f"{name}.json"

    def create(self, record: RunRecord) -> bool:
        """Store a new record; False (and nothing written) when the name is already taken."""
        try:
            with self._path(record.name).open("x") as file:
                file.write(record.model_dump_json())
        except FileExistsError:
            return False
        return True

    def read(self, name: str) -> RunRecord:
        try:
            return RunRecord.model_validate_json(self._path(name).read_text())
        except FileNotFoundError as e:
            raise PermanentError(f"no local run named {name!r}") from e

    def update(
        self,
        name: str,
        *,
        phase: RunPhase | None = None,
        message: str | None = None,
        step_output: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        with self._lock:
            record = self.read(name)
            changes: dict[str, Any] = {}
            if phase is not None:
                changes["phase"] = phase
            if message is not None:
                changes["message"] = message
            if step_output is not None:
                changes["outputs"] = {**record.outputs, step_output[0]: step_output[1]}
            temporary = self._path(name).with_suffix(".tmp")
            temporary.write_text(record.model_copy(update=changes).model_dump_json())
            temporary.replace(self._path(name))

    def status(self, name: str) -> RunStatus:
        record = self.read(name)
        if record.phase not in _FINAL and not _process_alive(record.pid):
            return RunStatus(name, RunPhase.ERROR, f"the process running it (pid {record.pid}) exited", record.outputs)
        return RunStatus(name, record.phase, record.message, record.outputs)
