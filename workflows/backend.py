"""The one interface through which the service starts and watches pipeline runs.

The dispatcher must not care whether a pipeline runs as an Argo Workflow in a
cluster or as a Prefect flow on a laptop, so both backends implement
``WorkflowBackend``. Two properties make the dispatcher's retries safe:

* ``submit`` is idempotent on ``run_name``: the name is derived from the
  action key (see ``workflows.naming.run_name``), so a retry after a crash
  between "submitted" and "recorded" finds the run already there, returns its
  name and starts nothing new.
* ``status`` reports a small, backend-neutral ``RunStatus``; ``outputs`` maps
  each finished step name to the JSON document that step wrote as its result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel

# Labels every run carries, so a run can be found from the event that caused it and joined to its trace.
EVENT_ID_LABEL = "mlops-gitops.io/event-id"
TRACE_ID_LABEL = "mlops-gitops.io/trace-id"


class RunPhase(StrEnum):
    """Lifecycle of a run, spelled as Argo Workflows spells its phases."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"


_FINAL_PHASES = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.ERROR})


@dataclass(frozen=True)
class RunStatus:
    """A snapshot of one run: its phase, a human message and the step outputs so far."""

    name: str
    phase: RunPhase
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.phase in _FINAL_PHASES


class WorkflowBackend(Protocol):
    """Port implemented by the Argo and the local backend."""

    def submit(self, pipeline: str, params: BaseModel, *, run_name: str, labels: Mapping[str, str]) -> str:
        """Start ``pipeline`` with validated ``params`` as ``run_name``; return the run name.

        Submitting a name that already exists starts nothing and returns the name.
        Raises ``PermanentError`` for input the backend refuses and
        ``TemporaryError`` when the backend is unreachable or overloaded.
        """
        ...

    def status(self, run_name: str) -> RunStatus:
        """Return the current status of ``run_name``; ``PermanentError`` if it does not exist."""
        ...

    def close(self) -> None:
        """Release what the backend started or opened (sessions, servers, worker threads); the service calls it
        once, when it stops."""
        ...
