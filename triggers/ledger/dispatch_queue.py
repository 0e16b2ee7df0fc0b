"""The dispatch queue: which events are due, leased to which dispatcher, and how each pass over one ended.

Dispatchers claim due events with a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, an immediate write transaction on SQLite), so any number of
replicas share one database without doing an event twice, and an event whose
dispatcher died comes back when its lease runs out. Due events are claimed in
the fair order of ``triggers.ledger.fair_order`` (round-robin over lanes), so a
flood on one dataset or repository holds up no other. A pass's outcome ends the
lease: done, ignored, retried later, deferred without spending an attempt, or
dead-lettered, written for a whole claimed batch in one transaction together
with its actions' outcomes and the concurrency slots its chains freed. Every value written is absolute (a deferral sets
the attempt count the claim started from; a replay sets its generation only if
the event has not reached it yet), so a transaction run again after a lost
commit acknowledgement changes nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, or_, select, update

from core.errors import PermanentError
from triggers.actions.base import ActionStatus
from triggers.event import Event
from triggers.ledger.action_log import ActionLog, ActionWrite
from triggers.ledger.coordination import SlotRelease, release_slots
from triggers.ledger.database import LedgerDatabase, operation
from triggers.ledger.fair_order import FairOrder
from triggers.ledger.records import (
    CLAIMABLE,
    UNFINISHED_ACTIONS,
    ActionRecord,
    ClaimedEvent,
    EventState,
    action_record,
)
from triggers.ledger.schema import ActionRow, EventRow


@dataclass(frozen=True)
class EventOutcome:
    """How one pass over a claimed event ended: the event's new (absolute) column values and its actions' outcomes."""

    event_id: str
    values: dict[str, Any]
    actions: Sequence[ActionWrite] = ()

    @classmethod
    def done(
        cls, event_id: str, matched_rules: list[Any] | None = None, actions: Sequence[ActionWrite] = ()
    ) -> EventOutcome:
        return cls(event_id, {"state": EventState.DONE.value, "last_error": None, **_rules(matched_rules)}, actions)

    @classmethod
    def ignored(cls, event_id: str, reason: str, matched_rules: list[Any] | None = None) -> EventOutcome:
        return cls(event_id, {"state": EventState.IGNORED.value, "last_error": reason, **_rules(matched_rules)})

    @classmethod
    def retry(
        cls, event_id: str, error: str, next_attempt_at: datetime, actions: Sequence[ActionWrite] = ()
    ) -> EventOutcome:
        values = {"state": EventState.RETRYING.value, "last_error": error, "next_attempt_at": next_attempt_at}
        return cls(event_id, values, actions)

    @classmethod
    def deferred(cls, claimed: ClaimedEvent, until: datetime, actions: Sequence[ActionWrite] = ()) -> EventOutcome:
        """Hand the event back until ``until`` without spending an attempt (debounce, queue, a run going on).

        The attempt count is set to what it was before the claim, not decremented: the update may run twice.
        """
        values = {
            "state": EventState.RECEIVED.value,
            "next_attempt_at": until,
            "attempts": claimed.attempts - 1,
            "last_error": None,
        }
        return cls(claimed.event.id, values, actions)

    @classmethod
    def dead(
        cls,
        event_id: str,
        reason: str,
        matched_rules: list[Any] | None = None,
        actions: Sequence[ActionWrite] = (),
    ) -> EventOutcome:
        values = {"state": EventState.DEAD_LETTERED.value, "last_error": reason, **_rules(matched_rules)}
        return cls(event_id, values, actions)


_CLAIM_ORDER = (EventRow.fair_round, EventRow.next_attempt_at, EventRow.time)
"""Fair round first; within a round, the oldest due, then the oldest event (one delivery's events fall due together)."""

_CLAIMED_COLUMNS = (
    EventRow.id,
    EventRow.envelope,
    EventRow.attempts,
    EventRow.replays,
    EventRow.fair_round,
    EventRow.next_attempt_at,
    EventRow.time,
)
"""What the claim's one statement, the update that leases the chosen events, returns of each (in no order: the
claim sorts them by ``_CLAIM_ORDER`` itself)."""

_DEAD_UNREADABLE = (
    update(EventRow)
    .where(EventRow.id == bindparam("event_id"))
    .values(
        state=EventState.DEAD_LETTERED.value,
        last_error=bindparam("error"),
        lease_owner=None,
        lease_expires_at=None,
        updated_at=bindparam("now"),
    )
)
"""A leased row whose envelope no longer reads back as an event is dead-lettered by the claim that leased it."""


class DispatchQueue:
    """Claims due events under a lease, ends leases with outcomes, and puts events (or one action) back."""

    def __init__(self, database: LedgerDatabase, actions: ActionLog) -> None:
        self._db = database
        self._actions = actions
        self._fair_order = FairOrder(database)
        self.owner = f"{os.uname().nodename}:{os.getpid()}"
        """Whose lease a claim takes unless it names another owner."""

    @operation
    def claim_due(
        self, limit: int = 10, lease: timedelta = timedelta(minutes=5), owner: str | None = None
    ) -> list[ClaimedEvent]:
        """Lease up to ``limit`` due events to this worker, by their rounds in the fair order, then oldest due first,
        each with the actions recorded for it so far (read in the same transaction).

        Due means received or retrying with ``next_attempt_at`` passed, or
        dispatched under a lease that expired (its worker died). The claim raises
        the round being served to its highest round (``triggers.ledger.fair_order``).
        """
        now = self._db.clock()
        owner = owner or self.owner
        due = or_(
            (EventRow.state.in_([s.value for s in CLAIMABLE])) & (EventRow.next_attempt_at <= now),
            (EventRow.state == EventState.DISPATCHED.value) & (EventRow.lease_expires_at < now),
        )
        chosen = select(EventRow.id).where(due).order_by(*_CLAIM_ORDER).limit(limit)
        if self._db.is_postgres:
            chosen = chosen.with_for_update(skip_locked=True)
        # The due rows are sorted by their narrow keys alone, and only the chosen ones are read whole (returned by
        # the update that leases them): sorting every due row with its envelope spilled to disk once thousands were
        # due.
        leased = (
            update(EventRow)
            .where(EventRow.id.in_(chosen))
            .values(
                state=EventState.DISPATCHED.value,
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=EventRow.attempts + 1,
                updated_at=now,
            )
            .returning(*_CLAIMED_COLUMNS)
        )
        claimed: list[ClaimedEvent] = []
        unreadable: list[dict[str, Any]] = []
        with self._db.leasing() as s:
            conn = s.connection()
            rows = sorted(conn.execute(leased).all(), key=lambda row: (row.fair_round, row.next_attempt_at, row.time))
            if not rows:
                return []
            for row in rows:
                try:
                    event = Event.model_validate(row.envelope)
                except ValidationError as e:  # one unreadable row must not stop every dispatcher
                    error = f"the stored event cannot be read back: {e.errors()[0]['msg']}"
                    unreadable.append({"event_id": row.id, "error": error})
                    continue
                claimed.append(ClaimedEvent(event, row.attempts, row.replays))
            recorded = self._actions.of_events(s, [c.event.id for c in claimed])
            claimed = [replace(c, actions=recorded[c.event.id]) for c in claimed]
            if unreadable:
                conn.execute(_DEAD_UNREADABLE, [{**u, "now": now} for u in unreadable])
            self._fair_order.served(conn, rows[-1].fair_round)  # sorted in rounds' order: the last is highest
        return claimed

    @operation
    def finish(self, outcomes: Sequence[EventOutcome], released: Sequence[SlotRelease] = ()) -> None:
        """End the leases of claimed events with their outcomes and their actions' outcomes, all in one transaction,
        freeing the concurrency slots of the chains that ended.

        The dispatcher hands in a whole claimed batch at once: one commit (one fsync on SQLite) for the batch
        instead of one per event. Every value is absolute, so the transaction may run twice.
        """
        if not outcomes and not released:
            return
        now = self._db.clock()
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for o in outcomes:
            row = {f"new_{column}": value for column, value in o.values.items()}
            by_columns.setdefault(tuple(sorted(o.values)), []).append({**row, "event_id": o.event_id})
        with self._db.transaction() as s:
            conn = s.connection()
            self._actions.write_rows(conn, [(o.event_id, a) for o in outcomes for a in o.actions], now)
            release_slots(conn, released)
            for columns, rows in by_columns.items():
                conn.execute(_finish_statement(columns), [{**row, "now": now} for row in rows])

    def replay(self, event_id: str, action_key: str | None = None) -> None:
        """Put an event back in the queue, whatever its state, with fresh attempts.

        A replay is a new generation of the event's actions (their keys count
        replays). Actions of the earlier generation that never finished (left
        ``retrying`` by a dead letter, queued, running) are closed as
        ``superseded`` by the replay in the same transaction, so the history
        never shows an abandoned attempt as still going.

        With ``action_key``, only that failed action runs again (a follow-up
        reads the outputs its earlier steps recorded); the event's other
        actions keep what they did.
        """
        replays = self._replays(event_id)
        if replays is None:
            raise PermanentError(f"no event with id {event_id!r}")
        if action_key is None:
            self._replay(event_id, replays + 1)
            self._db.wakeup.notify()
            return
        action = self._action_of(event_id, action_key)
        if action is None:
            raise PermanentError(f"event {event_id!r} has no action {action_key!r}")
        if action.status != ActionStatus.FAILED:
            raise PermanentError(f"action {action_key!r} is {action.status}; only a failed action is replayed alone")
        self._replay_action(event_id, action_key, action.state.replays + 1)
        self._db.wakeup.notify()

    @operation
    def _replays(self, event_id: str) -> int | None:
        """How often the event was replayed, or ``None`` when there is no such event."""
        with self._db.reading() as s:
            replays: int | None = s.execute(
                select(EventRow.replays).where(EventRow.id == event_id)
            ).scalar_one_or_none()
            return replays

    @operation
    def _action_of(self, event_id: str, action_key: str) -> ActionRecord | None:
        with self._db.reading() as s:
            row = s.execute(
                select(ActionRow).where(ActionRow.action_key == action_key, ActionRow.event_id == event_id)
            ).scalar_one_or_none()
            return None if row is None else action_record(row)

    @operation
    def _replay_action(self, event_id: str, action_key: str, generation: int) -> None:
        """Queue action replay ``generation`` and its event, unless the action already has it."""
        now = self._db.clock()
        with self._db.transaction() as s:
            action = s.execute(
                select(ActionRow).where(ActionRow.action_key == action_key, ActionRow.event_id == event_id)
            ).scalar_one()
            if action.replays >= generation:
                return
            failure = action.last_error or action.detail.get("error") or action.detail.get("message")
            action.status = ActionStatus.QUEUED.value
            action.target = ""
            action.detail = {"replay": generation, "replaced_failure": failure}
            action.replays = generation
            action.attempts = action.poll_failures = 0
            action.started_at = action.next_attempt_at = action.deadline_at = action.last_error = None
            action.updated_at = now
            self._db.announce_due(s)
            s.execute(update(EventRow).where(EventRow.id == event_id).values(**_due_again(now), last_error=None))

    @operation
    def _replay(self, event_id: str, generation: int) -> None:
        """Start replay ``generation`` unless the event already has it (this try's commit went through)."""
        now = self._db.clock()
        with self._db.transaction() as s:
            started = s.execute(
                update(EventRow)
                .where(EventRow.id == event_id, EventRow.replays < generation)
                .values(**_due_again(now), replays=generation)
                .returning(EventRow.id)
            ).scalar_one_or_none()
            if started is None:
                return
            self._db.announce_due(s)
            abandoned = select(ActionRow).where(
                ActionRow.event_id == event_id, ActionRow.status.in_(UNFINISHED_ACTIONS)
            )
            for action in s.execute(abandoned).scalars():
                action.status = ActionStatus.SUPERSEDED.value
                action.detail = {**action.detail, "superseded_by": f"replay {generation}"}
                action.updated_at = now


@lru_cache(maxsize=32)
def _finish_statement(columns: tuple[str, ...]) -> Any:
    """The update that ends a claimed event's lease and sets ``columns``, cached per set of columns."""
    return (
        update(EventRow)
        .where(EventRow.id == bindparam("event_id"))
        .values(
            lease_owner=None,
            lease_expires_at=None,
            updated_at=bindparam("now"),
            **{column: bindparam(f"new_{column}") for column in columns},
        )
    )


def _rules(matched_rules: list[Any] | None) -> dict[str, Any]:
    return {} if matched_rules is None else {"matched_rules": matched_rules}


def _due_again(now: datetime) -> dict[str, Any]:
    """An event's columns when a replay makes it due again: received, no attempts, no lease."""
    return {
        "state": EventState.RECEIVED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
