"""Shared state that lets many dispatchers agree on debounce, concurrency and rate limits.

Each dispatcher replica sees only the events it claimed, so anything that spans
events (a debounce batch, "one run per dataset at a time", "ten runs an hour")
has to live in the ledger database, next to the events, and be changed in one
short transaction. Rows that several replicas race for are created with
``INSERT ... ON CONFLICT DO NOTHING`` and then locked with ``SELECT ... FOR
UPDATE`` (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers).

Each method is one ledger operation (``triggers.ledger.database``): run again
while PostgreSQL restarts, so each must be safe to repeat after its commit
went through and only the answer was lost. Joining a batch is guarded by the
event's membership row, closing and releasing are absolute, a slot already
held by the asking key is simply held, and a rate window counts the action
keys it let start, so the same key asking again is not counted twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from core.errors import TemporaryError
from triggers.event import Event
from triggers.ledger.database import LedgerDatabase, operation
from triggers.ledger.records import TERMINAL, aware
from triggers.ledger.schema import BatchMemberRow, ConcurrencySlotRow, DebounceBatchRow, EventRow, RateWindowRow

_JOIN_ATTEMPTS = 3


@dataclass(frozen=True)
class BatchMembership:
    """Where an event landed in a debounce batch."""

    batch_id: str
    leader_event_id: str
    due_at: datetime
    closed: bool
    size: int


@dataclass(frozen=True)
class SlotHolder:
    holder_key: str
    event_id: str


@dataclass(frozen=True)
class SlotClaim:
    """Outcome of asking for a concurrency slot: held now, by whom otherwise, and whom it displaced."""

    acquired: bool
    holder_key: str
    displaced: SlotHolder | None = None


class Coordination:
    """Debounce batches, concurrency slots and rate windows, stored in the ledger database."""

    def __init__(self, database: LedgerDatabase) -> None:
        self._db = database

    # ---- debounce -------------------------------------------------------

    @operation
    def join_batch(
        self, *, rule: str, key: str, event_id: str, quiet: timedelta, max_wait: timedelta, now: datetime
    ) -> BatchMembership:
        """Add the event to the open batch of ``(rule, key)``, opening one if needed; idempotent per event.

        The batch falls due ``quiet`` after its latest event, but never later
        than ``max_wait`` after its first, so a steady trickle cannot starve it.
        The first event leads the batch (acts for it once it is due); if the
        leader finished without closing it (dead-lettered by another rule), the
        next event to join takes over.
        """
        for _ in range(_JOIN_ATTEMPTS):
            with self._db.transaction() as s:
                member = s.get(BatchMemberRow, (rule, event_id))
                if member is not None:
                    return _membership(s.get_one(DebounceBatchRow, member.batch_id))
                open_key = f"{rule}\x1f{key}"
                s.execute(
                    self._db.insert()(DebounceBatchRow)
                    .values(
                        id=uuid.uuid4().hex,
                        rule=rule,
                        key=key,
                        open_key=open_key,
                        leader_event_id=event_id,
                        size=0,
                        first_at=now,
                        last_at=now,
                        due_at=now + quiet,
                    )
                    .on_conflict_do_nothing(index_elements=["open_key"])
                )
                batch = self._db.locked(s, select(DebounceBatchRow).where(DebounceBatchRow.open_key == open_key))
                if batch is None:  # closed between our insert and our lock: open a fresh one
                    continue
                leader_state = s.execute(
                    select(EventRow.state).where(EventRow.id == batch.leader_event_id)
                ).scalar_one_or_none()
                if leader_state is None or leader_state in TERMINAL:  # its leader gave up (dead-lettered): take over
                    batch.leader_event_id = event_id
                s.add(BatchMemberRow(rule=rule, event_id=event_id, batch_id=batch.id, joined_at=now))
                batch.size += 1
                batch.last_at = now
                batch.due_at = min(now + quiet, aware(batch.first_at) + max_wait)
                return _membership(batch)
        raise TemporaryError(f"debounce batch for rule {rule!r} key {key!r} kept closing under us; retry")

    @operation
    def close_batch(self, batch_id: str, now: datetime) -> list[Event]:
        """Stop the batch taking events (idempotent) and return its events, oldest first."""
        with self._db.transaction() as s:
            batch = self._db.locked(s, select(DebounceBatchRow).where(DebounceBatchRow.id == batch_id))
            if batch.closed_at is None:
                batch.open_key = None
                batch.closed_at = now
            envelopes = s.execute(
                select(EventRow.envelope)
                .join(BatchMemberRow, BatchMemberRow.event_id == EventRow.id)
                .where(BatchMemberRow.batch_id == batch_id)
                .order_by(BatchMemberRow.joined_at, EventRow.time)
            ).scalars()
            return [Event.model_validate(e) for e in envelopes]

    # ---- concurrency ----------------------------------------------------

    @operation
    def acquire_slot(self, *, slot: str, holder_key: str, event_id: str, replace: bool, now: datetime) -> SlotClaim:
        """Hold ``slot`` for ``holder_key``; a holder whose event is finished (or is this event) counts as gone."""
        with self._db.transaction() as s:
            s.execute(
                self._db.insert()(ConcurrencySlotRow)
                .values(slot=slot, holder_key=holder_key, event_id=event_id, acquired_at=now)
                .on_conflict_do_nothing(index_elements=["slot"])
            )
            row = self._db.locked(s, select(ConcurrencySlotRow).where(ConcurrencySlotRow.slot == slot))
            if row.holder_key == holder_key:
                return SlotClaim(acquired=True, holder_key=holder_key)
            holder_state = s.execute(select(EventRow.state).where(EventRow.id == row.event_id)).scalar_one_or_none()
            stale = row.event_id == event_id or holder_state is None or holder_state in TERMINAL
            if not (stale or replace):
                return SlotClaim(acquired=False, holder_key=row.holder_key)
            displaced = None if stale else SlotHolder(row.holder_key, row.event_id)
            row.holder_key, row.event_id, row.acquired_at = holder_key, event_id, now
            return SlotClaim(acquired=True, holder_key=holder_key, displaced=displaced)

    @operation
    def release_slot(self, *, slot: str, holder_key: str) -> None:
        with self._db.transaction() as s:
            s.execute(
                delete(ConcurrencySlotRow).where(
                    ConcurrencySlotRow.slot == slot, ConcurrencySlotRow.holder_key == holder_key
                )
            )

    # ---- rate limit -----------------------------------------------------

    @operation
    def take_rate_token(
        self, *, name: str, holder_key: str, limit: int, per: timedelta, now: datetime
    ) -> datetime | None:
        """Count the start of ``holder_key`` in the current window; ``None`` if allowed, else when the window reopens.

        A key already counted in the window is allowed again without counting: a start retried after its answer
        was lost, or a pass that crashed after the gate, spends one token, not two.
        """
        with self._db.transaction() as s:
            s.execute(
                self._db.insert()(RateWindowRow)
                .values(name=name, window_start=now, counted_keys=[])
                .on_conflict_do_nothing(index_elements=["name"])
            )
            window = self._db.locked(s, select(RateWindowRow).where(RateWindowRow.name == name))
            if aware(window.window_start) + per <= now:
                window.window_start, window.counted_keys = now, []
            counted = list(window.counted_keys)
            if holder_key in counted:
                return None
            if len(counted) < limit:
                window.counted_keys = [*counted, holder_key]
                return None
            reopens: datetime = aware(window.window_start) + per
            return reopens


def _membership(batch: DebounceBatchRow) -> BatchMembership:
    return BatchMembership(
        batch_id=batch.id,
        leader_event_id=batch.leader_event_id,
        due_at=aware(batch.due_at),
        closed=batch.closed_at is not None,
        size=batch.size,
    )
