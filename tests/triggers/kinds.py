"""Small real action kinds for dispatcher tests: they do file work and honour the action key.

``append`` writes one line per performed action to a journal file, so a test
can count how often each event really caused work. ``file-job`` is a
long-running kind: ``perform`` drops a job file, and the job finishes when its
result file appears (written by the test, standing in for the worker that
would run it), which lets tests drive follow-ups deterministically. While
the file ``status-unreachable`` exists in its directory, asking for a job's
status fails as an unreachable Argo Server's answer would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from core.errors import PermanentError, TemporaryError
from triggers.actions.base import ActionKind, ActionOutcome, ActionRequest, ActionStatus
from triggers.actions.registry import ACTION_SPECS
from triggers.rules.config import ActionSpec, TemplateText


class AppendSpec(ActionSpec):
    kind: Literal["append"] = "append"
    line: TemplateText = "{{ id }}"


class AppendAction(ActionKind[AppendSpec]):
    """Appends the rendered line (plus the action key) to a journal; fails while a ``broken`` flag file exists.

    The flag says how: ``permanent``, ``temporary``, or ``temporary <seconds>`` (an error that says when to retry).
    """

    kind = "append"
    spec_model = AppendSpec

    def __init__(self, journal: Path, broken_flag: Path | None = None) -> None:
        self.journal = journal
        self.broken_flag = broken_flag

    def perform(self, spec: AppendSpec, request: ActionRequest) -> ActionOutcome:
        if self.broken_flag is not None and self.broken_flag.exists():
            reason = self.broken_flag.read_text()
            if reason == "permanent":
                raise PermanentError("the journal refuses this line")
            delay = reason.removeprefix("temporary").strip()  # "temporary 90": come back in 90 s
            raise TemporaryError("the journal is unavailable; retry", delay=float(delay) if delay else None)
        line = request.render(spec.line, "line")
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{request.action_key}\t{line}\t{os.getpid()}\n".encode())
        finally:
            os.close(fd)
        return ActionOutcome(ActionStatus.SUCCEEDED, request.action_key, outputs={"line": line})

    def lines(self) -> list[list[str]]:
        if not self.journal.exists():
            return []
        return [row.split("\t") for row in self.journal.read_text().splitlines()]


class FileJobSpec(ActionSpec):
    kind: Literal["file-job"] = "file-job"
    params: dict[str, Any] = Field(default_factory=dict)


class FileJobAction(ActionKind[FileJobSpec]):
    """A job per action key in a directory; finished once ``<job>.result.json`` exists."""

    kind = "file-job"
    spec_model = FileJobSpec

    def __init__(self, jobs: Path) -> None:
        self.jobs = jobs
        self.unreachable = jobs / "status-unreachable"
        self.cancelled: list[str] = []

    def perform(self, spec: FileJobSpec, request: ActionRequest) -> ActionOutcome:
        name = request.action_key.replace(":", "_").replace("/", "_")
        job = self.jobs / f"{name}.job.json"
        if not job.exists():  # idempotent on the action key, like a backend's run name
            job.write_text(json.dumps(request.render_tree(spec.params, "params")))
        return ActionOutcome(ActionStatus.RUNNING, name, "submitted")

    def follow(self, spec: FileJobSpec, target: str) -> ActionOutcome:
        if self.unreachable.exists():
            raise TemporaryError("workflow status unavailable (503 Service Unavailable)")
        result = self.jobs / f"{target}.result.json"
        if not result.exists():
            return ActionOutcome(ActionStatus.RUNNING, target, "running")
        document = json.loads(result.read_text())
        status = ActionStatus.SUCCEEDED if document.get("ok") else ActionStatus.FAILED
        return ActionOutcome(status, target, document.get("message", ""), outputs=document.get("outputs", {}))

    def status_reachable(self, reachable: bool) -> None:
        if reachable:
            self.unreachable.unlink(missing_ok=True)
        else:
            self.unreachable.touch()

    def cancel(self, target: str) -> bool:
        self.cancelled.append(target)
        return True

    def submitted(self) -> list[Path]:
        return sorted(self.jobs.glob("*.job.json"))

    def finish(self, job: Path, *, ok: bool = True, outputs: dict[str, Any] | None = None) -> None:
        target = job.name.removesuffix(".job.json")
        (self.jobs / f"{target}.result.json").write_text(json.dumps({"ok": ok, "outputs": outputs or {}}))


TEST_SPECS: dict[str, type[ActionSpec]] = {
    **ACTION_SPECS,
    AppendAction.kind: AppendSpec,
    FileJobAction.kind: FileJobSpec,
}
