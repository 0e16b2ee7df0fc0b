"""Durable records of local runs: what the backend reports through ``status``.

One small JSON file per run name, created exclusively, is what makes
``submit`` idempotent across retries and process restarts: whoever creates the
file owns the run, everyone else finds it.

A run that has not finished is alive only while its owner says so. The owner
is one ``RunRecords`` (one backend in one process start), named by a random
id, not by a PID: in a container the restarted service is PID 1 again, so a
PID check took an orphaned run for a live one and reported it ``Running``
forever. The owner answers for its own runs from memory and keeps a lease on
each of them by touching its file every ``heartbeat_seconds``; anyone else
reads a run whose file has not been touched for ``lease_seconds`` as orphaned
(its process died or restarted), an error the dispatcher acts on.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
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
    owner: str = ""
    """Id of the ``RunRecords`` (backend and process start) running it."""
    pid: int = Field(default_factory=os.getpid)
    """For people reading the file; liveness never relies on it."""


class RunRecords:
    """Run records in one directory; safe for the threads of one process."""

    def __init__(
        self,
        directory: Path,
        *,
        heartbeat_seconds: float = 10.0,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._clock = clock
        self._lease_seconds = lease_seconds
        self.owner = uuid.uuid4().hex
        self._active: set[str] = set()
        self._stop = threading.Event()
        directory.mkdir(parents=True, exist_ok=True)
        self._heartbeat = threading.Thread(
            target=self._beat, args=(heartbeat_seconds,), name="local-run-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def _path(self, name: str) -> Path:
        return self._directory / f"{name}.json"

    def create(self, record: RunRecord) -> bool:
        """Store a new record owned here; False (and nothing written) when the name is already taken."""
        owned = record.model_copy(update={"owner": self.owner})
        try:
            with self._path(record.name).open("x") as file:
                file.write(owned.model_dump_json())
        except FileExistsError:
            return False
        with self._lock:
            self._active.add(record.name)
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
            if phase in _FINAL:
                self._active.discard(name)

    def status(self, name: str) -> RunStatus:
        # One snapshot under the lock ``update`` holds: a record read before its final write, checked against
        # the active set after it, would look like a run that ended without an outcome.
        with self._lock:
            record = self.read(name)
            held = name in self._active
        if record.phase in _FINAL:
            return RunStatus(name, record.phase, record.message, record.outputs)
        orphaned = self._orphaned(record, held)
        if orphaned:
            return RunStatus(name, RunPhase.ERROR, orphaned, record.outputs)
        return RunStatus(name, record.phase, record.message, record.outputs)

    def _orphaned(self, record: RunRecord, held: bool) -> str | None:
        """Why an unfinished run can no longer be going, or ``None`` while its owner holds it (``held``: it is
        among this owner's active runs)."""
        if record.owner == self.owner:
            return None if held else "its run thread ended without recording an outcome"
        try:
            silent = self._clock() - self._path(record.name).stat().st_mtime
        except FileNotFoundError:
            return "its record disappeared"
        if silent <= self._lease_seconds:
            return None
        return (
            f"orphaned: the process that ran it (pid {record.pid} at the time) has not renewed its lease for "
            f"{silent:.0f} s; it exited or restarted"
        )

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with self._lock:
                names = list(self._active)
            for name in names:
                try:
                    os.utime(self._path(name))
                except FileNotFoundError:
                    continue

    def close(self) -> None:
        """Stop renewing leases: runs still going here will read as orphaned to others once theirs run out."""
        self._stop.set()
        self._heartbeat.join()
