"""A trigger from the rules file, compiled and ready for the dispatcher.

Compilation happens once, at start-up: globs stay as written, templates and
expressions are parsed, action blocks are validated against their kind's spec
model. Nothing here touches the ledger or the outside world.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from triggers.event import Event, EventType
from triggers.rules.config import ActionSpec
from triggers.rules.expressions import Expression
from triggers.rules.filters import EventFilter
from triggers.rules.templating import FieldTemplate


@dataclass(frozen=True)
class Stage:
    """One action of a rule's chain; follow-ups (``then``) run only if ``when`` holds."""

    spec: ActionSpec
    field: str
    when: Expression | None = None


@dataclass(frozen=True)
class Debounce:
    key: FieldTemplate
    quiet: timedelta
    max_wait: timedelta


@dataclass(frozen=True)
class Concurrency:
    key: FieldTemplate
    policy: Literal["allow", "queue", "replace"]


@dataclass(frozen=True)
class RateLimit:
    max_runs: int
    per: timedelta


@dataclass(frozen=True)
class Rule:
    name: str
    event_types: frozenset[EventType]
    filter: EventFilter
    stages: tuple[Stage, ...]
    debounce: Debounce | None = None
    concurrency: Concurrency | None = None
    rate_limit: RateLimit | None = None
    retries: int | None = None
    """Tries after a temporary failure, per action; ``None``: the dispatcher's default."""
    timeout: timedelta | None = None
    """How long each action may run; ``None``: the dispatcher's default."""

    def listens_to(self, event: Event) -> bool:
        return event.type in self.event_types
