"""What the ledger hands out: event states and plain records of stored rows, never ORM objects.

Every part of the ledger reads rows into these frozen dataclasses inside its
transaction, so a caller can keep them, compare them and pass them between
threads without a session, and never sees SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from triggers.actions.base import ActionStatus
from triggers.event import Event
from triggers.ledger.schema import ActionRow, DeadLetterRow, EventRow


class EventState(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    RETRYING = "retrying"
    DONE = "done"
    IGNORED = "ignored"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


CLAIMABLE = (EventState.RECEIVED, EventState.RETRYING)
TERMINAL = (EventState.DONE, EventState.IGNORED, EventState.DEAD_LETTERED)
UNFINISHED_ACTIONS = (
    ActionStatus.DEBOUNCING,
    ActionStatus.QUEUED,
    ActionStatus.RATE_LIMITED,
    ActionStatus.RUNNING,
    ActionStatus.RETRYING,
)
"""Action statuses that say the action is still going; a replay supersedes them."""


@dataclass(frozen=True)
class RecordResult:
    event_id: str
    duplicate: bool


@dataclass(frozen=True)
class ClaimedEvent:
    """An event leased to a dispatcher, with its actions as the ledger had them when it was claimed."""

    event: Event
    attempts: int
    replays: int = 0
    actions: tuple[ActionRecord, ...] = ()


@dataclass(frozen=True)
class ActionState:
    """Where one action stands against its own budgets; every field an absolute value, so a write may repeat."""

    attempts: int = 0
    poll_failures: int = 0
    replays: int = 0
    started_at: datetime | None = None
    next_attempt_at: datetime | None = None
    deadline_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class ActionRecord:
    action_key: str
    kind: str
    rule: str
    target: str
    status: str
    detail: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    state: ActionState = ActionState()


@dataclass(frozen=True)
class EventRecord:
    event: Event
    state: EventState
    attempts: int
    duplicates: int
    replays: int
    last_error: str | None
    matched_rules: list[Any]
    next_attempt_at: datetime
    received_at: datetime
    updated_at: datetime
    actions: tuple[ActionRecord, ...]


@dataclass(frozen=True)
class EventSummary:
    """What the status API lists: an event's envelope fields and outcome, without its payload (``data``)."""

    id: str
    source: str
    type: str
    subject: str
    time: datetime
    state: EventState
    attempts: int
    duplicates: int
    last_error: str | None
    matched_rules: list[Any]
    next_attempt_at: datetime
    received_at: datetime
    updated_at: datetime
    actions: tuple[ActionRecord, ...]


@dataclass(frozen=True)
class DeadLetter:
    id: int
    origin: str
    origin_key: str
    reason: str
    payload: bytes
    headers: dict[str, Any]
    event_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class DeadLetterSummary:
    """What the status API lists of a dead letter: where it came from and why, the payload only by its size."""

    id: int
    origin: str
    origin_key: str
    reason: str
    payload_bytes: int
    event_id: str | None
    created_at: datetime


def aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def action_record(row: ActionRow) -> ActionRecord:
    return ActionRecord(
        row.action_key,
        row.kind,
        row.rule,
        row.target,
        row.status,
        dict(row.detail),
        aware(row.created_at),
        aware(row.updated_at),
        ActionState(
            attempts=row.attempts,
            poll_failures=row.poll_failures,
            replays=row.replays,
            started_at=aware_or_none(row.started_at),
            next_attempt_at=aware_or_none(row.next_attempt_at),
            deadline_at=aware_or_none(row.deadline_at),
            last_error=row.last_error,
        ),
    )


def dead_letter_record(r: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        r.id, r.origin, r.origin_key, r.reason, r.payload, dict(r.headers), r.event_id, aware(r.created_at)
    )


def summary_record(row: Any, actions: tuple[ActionRecord, ...]) -> EventSummary:
    (event_id, source, kind, subject, time, state, attempts, duplicates, rules, next_at, received, updated, error) = row
    return EventSummary(
        id=event_id,
        source=source,
        type=kind,
        subject=subject,
        time=aware(time),
        state=EventState(state),
        attempts=attempts,
        duplicates=duplicates,
        last_error=error,
        matched_rules=list(rules or []),
        next_attempt_at=aware(next_at),
        received_at=aware(received),
        updated_at=aware(updated),
        actions=actions,
    )


def aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def event_record(row: EventRow, actions: tuple[ActionRecord, ...]) -> EventRecord:
    return EventRecord(
        event=Event.model_validate(row.envelope),
        state=EventState(row.state),
        attempts=row.attempts,
        duplicates=row.duplicates,
        replays=row.replays,
        last_error=row.last_error,
        matched_rules=list(row.matched_rules or []),
        next_attempt_at=aware(row.next_attempt_at),
        received_at=aware(row.received_at),
        updated_at=aware(row.updated_at),
        actions=actions,
    )
