"""What every action kind provides, and what the dispatcher hands it.

An action kind is one module: a pydantic spec model (the ``action:`` block
of a rule, selected by its ``kind``; a subclass of the rules file's
``ActionSpec``) and an ``ActionKind`` that performs it.
The dispatcher owns everything around the call (the action key, retries,
recording the outcome, debounce, concurrency); an action kind only turns a
spec plus the triggering events into a side effect, and must be idempotent on
``ActionRequest.action_key``: performing the same key twice has the effect of
performing it once. That is what makes a crash between "submitted" and
"recorded" harmless.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar, Generic, TypeVar

from core.errors import PermanentError
from triggers.event import Event
from triggers.rules.config import ActionSpec
from triggers.rules.templating import FieldTemplate, render_tree


class ActionStatus(StrEnum):
    """Status of one action key, as recorded on the event in the ledger."""

    DEBOUNCING = "debouncing"
    COALESCED = "coalesced"
    QUEUED = "queued"
    RATE_LIMITED = "rate_limited"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"


@lru_cache(maxsize=1024)
def _compiled(template: str, field: str) -> FieldTemplate:
    """A rule's templates are few and fixed, while every action renders one: compile each once, not per action."""
    return FieldTemplate(template, field)


@dataclass(frozen=True)
class ActionRequest:
    """One action to perform: who asked (rule, events) and under which idempotency key."""

    rule: str
    action_key: str
    field: str
    event: Event
    events: tuple[Event, ...]
    context: Mapping[str, Any]

    def render(self, template: str, name: str) -> str:
        return _compiled(template, f"trigger {self.rule!r} {self.field}.{name}").render(self.context)

    def render_tree(self, value: Any, name: str) -> Any:
        return render_tree(value, self.context, f"trigger {self.rule!r} {self.field}.{name}")


@dataclass(frozen=True)
class ActionOutcome:
    """Where an action stands: still running, or finished with what result.

    ``target`` names the thing the action made (a run name, a commit SHA);
    ``outputs`` is what a follow-up may read as ``outputs``.
    """

    status: ActionStatus
    target: str
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


SpecT = TypeVar("SpecT", bound=ActionSpec)


class ActionKind(ABC, Generic[SpecT]):
    """Performs the actions of one kind."""

    kind: ClassVar[str]
    spec_model: ClassVar[type[ActionSpec]]

    @abstractmethod
    def perform(self, spec: SpecT, request: ActionRequest) -> ActionOutcome:
        """Carry out the action (idempotently on ``request.action_key``)."""

    def follow(self, spec: SpecT, target: str) -> ActionOutcome:
        """Report on an action that ``perform`` left running; only long-running kinds override this."""
        raise PermanentError(
            f"action kind {self.kind!r} never leaves actions running, so {target!r} cannot be followed"
        )

    def cancel(self, target: str) -> bool:
        """Stop a running action if this kind can; ``False`` when it cannot (the action runs to its end)."""
        return False
