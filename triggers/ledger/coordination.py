"""Shared state that lets many dispatchers agree on debounce, concurrency and rate limits.

Each dispatcher replica sees only the events it claimed, so anything that spans
events (a debounce batch, "one run per dataset at a time", "ten runs an hour")
has to live in the ledger database, next to the events, and be changed in one
short transaction. Rows that several replicas race for are created with
``INSERT ... ON CONFLICT DO NOTHING`` and then locked with ``SELECT ... FOR
UPDATE`` (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers).

Each method is one ledger operation (``triggers.ledger.database``): run again
while PostgreSQL restarts, so each must be safe to repeat after its commit
went through and only the answer was lost. A chain that ended frees its slot
in the transaction of its event's outcome (:func:`release_slots`, called by
the dispatch queue), not in one of its own. Joining batches (every debounced
event of a claimed batch in one transaction) is guarded by each event's
membership row, closing and releasing are absolute, a slot already
held by the asking key is simply held, and a rate window counts the action
keys it let start, so the same key asking again is not counted twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from core.errors import TemporaryError
from triggers.event import Event
from triggers.ledger.database import LedgerDatabase, listed, operation
from triggers.ledger.records import TERMINAL, aware
from triggers.ledger.schema import BatchMemberRow, ConcurrencySlotRow, DebounceBatchRow, EventRow, RateWindowRow

_JOIN_ATTEMPTS = 3


@dataclass(frozen=True)
class BatchJoin:
    """One event asking to join the debounce batch of its rule and rendered key."""

    rule: str
    key: str
    event_id: str
    quiet: timedelta
    max_wait: timedelta


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
class SlotRelease:
    """A chain that ended frees the concurrency slot it held (if it still holds it)."""

    slot: str
    holder_key: str


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
    def join_batches(self, joins: Sequence[BatchJoin], now: datetime) -> dict[tuple[str, str], BatchMembership]:
        """Add each event to the open batch of its ``(rule, key)``, opening one if needed, all in one transaction.

        ``joins`` names each ``(rule, event id)`` once; the answer says where each landed. A dispatcher joins every
        debounced event of a claimed batch here at once: one commit per claimed batch, not one per notice.
        Idempotent per event (its membership row guards it): run again after a lost commit acknowledgement, or
        for events claimed again after their dispatcher died, an event already in a batch is answered from it and
        counted once.

        The batch falls due ``quiet`` after its latest event, but never later
        than ``max_wait`` after its first, so a steady trickle cannot starve it;
        an event that comes after the batch fell due opens the next batch (the
        leader acts for the events the batch had when it fell due, whenever it
        gets to it). The first event leads the batch (acts for it once it is
        due); if the leader finished without closing it (dead-lettered by
        another rule), the next event to join takes over.
        """
        if not joins:
            return {}
        with self._db.transaction() as s:
            conn = s.connection()
            asked = {(join.rule, join.event_id) for join in joins}
            members = conn.execute(  # by both columns of the members' primary key, so its index finds them
                select(BatchMemberRow.rule, BatchMemberRow.event_id, BatchMemberRow.batch_id).where(
                    BatchMemberRow.rule.in_({rule for rule, _ in asked}),
                    listed(BatchMemberRow.event_id, {event_id for _, event_id in asked}),
                )
            )
            joined = {(m.rule, m.event_id): m.batch_id for m in members if (m.rule, m.event_id) in asked}
            fresh: dict[tuple[str, str], list[BatchJoin]] = {}
            for join in joins:
                if (join.rule, join.event_id) not in joined:
                    fresh.setdefault((join.rule, join.key), []).append(join)
            landed: dict[str, BatchMembership] = {}
            for group, membership in self._join_groups(conn, fresh, now).items():
                landed[membership.batch_id] = membership
                joined.update({(join.rule, join.event_id): membership.batch_id for join in fresh[group]})
            if earlier := set(joined.values()) - set(landed):
                for batch in conn.execute(select(*_BATCH_COLUMNS).where(DebounceBatchRow.id.in_(earlier))):
                    landed[batch.id] = _membership(batch)
            return {member: landed[batch_id] for member, batch_id in joined.items()}

    def _join_groups(
        self, conn: Connection, groups: Mapping[tuple[str, str], Sequence[BatchJoin]], now: datetime
    ) -> dict[tuple[str, str], BatchMembership]:
        """Add each group (events of one rule and key, none a member yet) to its key's open batch, opening one if
        there is none, with a handful of statements for all the groups together.

        Batches are opened and locked in the order of their open keys, so that two dispatchers joining overlapping
        sets of batches take their locks in one order and cannot deadlock.
        """
        pending = {f"{rule}\x1f{key}": (rule, key) for rule, key in groups}
        landed: dict[tuple[str, str], BatchMembership] = {}
        for _ in range(_JOIN_ATTEMPTS):
            if not pending:
                return landed
            conn.execute(
                self._db.insert()(DebounceBatchRow).on_conflict_do_nothing(index_elements=["open_key"]),
                [_opened(groups[pending[open_key]], open_key, now) for open_key in sorted(pending)],
            )
            query = (
                select(*_BATCH_COLUMNS, DebounceBatchRow.open_key, EventRow.state.label("leader_state"))
                .outerjoin(EventRow, EventRow.id == DebounceBatchRow.leader_event_id)
                .where(DebounceBatchRow.open_key.in_(list(pending)))
                .order_by(DebounceBatchRow.open_key)
            )
            if self._db.is_postgres:
                query = query.with_for_update(of=DebounceBatchRow)
            grown: list[dict[str, Any]] = []
            members: list[dict[str, Any]] = []
            fell_due: list[str] = []
            for batch in conn.execute(query):
                group = groups[pending[batch.open_key]]
                leader = batch.leader_event_id
                if batch.leader_state is None or batch.leader_state in TERMINAL:  # its leader gave up: take over
                    leader = group[0].event_id
                elif aware(batch.due_at) < now:  # its leader acts for the events it has; these open the next one
                    fell_due.append(batch.id)
                    continue
                size = batch.size + len(group)
                due_at = min(now + group[0].quiet, aware(batch.first_at) + group[0].max_wait)
                grown.append({"batch_id": batch.id, "leader": leader, "grown_size": size, "now": now, "due": due_at})
                members += [
                    {"rule": j.rule, "event_id": j.event_id, "batch_id": batch.id, "joined_at": now} for j in group
                ]
                landed[pending.pop(batch.open_key)] = BatchMembership(batch.id, leader, due_at, closed=False, size=size)
            if fell_due:
                conn.execute(
                    update(DebounceBatchRow)
                    .where(DebounceBatchRow.id.in_(fell_due))
                    .values(open_key=None, closed_at=now)
                )
            if grown:
                conn.execute(_GROW_BATCH, grown)
                conn.execute(insert(BatchMemberRow), members)
            # what is still pending fell due, or (on PostgreSQL) was closed between our insert and our lock
        if pending:
            raise TemporaryError(f"debounce batches {sorted(pending.values())} kept closing under us; retry")
        return landed

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
    def acquire_slot(
        self,
        *,
        slot: str,
        holder_key: str,
        event_id: str,
        replace: bool,
        now: datetime,
        ended: Collection[str] = frozenset(),
    ) -> SlotClaim:
        """Hold ``slot`` for ``holder_key``; a holder whose event is finished (or is this event), or whose chain is
        one of ``ended`` (its release is not stored yet), counts as gone."""
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
            stale = (
                row.event_id == event_id or row.holder_key in ended or holder_state is None or holder_state in TERMINAL
            )
            if not (stale or replace):
                return SlotClaim(acquired=False, holder_key=row.holder_key)
            displaced = None if stale else SlotHolder(row.holder_key, row.event_id)
            row.holder_key, row.event_id, row.acquired_at = holder_key, event_id, now
            return SlotClaim(acquired=True, holder_key=holder_key, displaced=displaced)

    @operation
    def release_slot(self, *, slot: str, holder_key: str) -> None:
        """Free one slot at once, in a transaction of its own (a start the rate limit held back after its slot)."""
        with self._db.transaction() as s:
            release_slots(s.connection(), [SlotRelease(slot, holder_key)])

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


def release_slots(conn: Connection, releases: Sequence[SlotRelease]) -> None:
    """Free the slots of chains that ended, inside the caller's transaction: the dispatch queue frees them with the
    outcomes of the claimed batch whose passes ended them. Only a slot still held by the releasing key is freed, so
    running it again frees nothing more."""
    if releases:
        conn.execute(_RELEASE_SLOT, [{"slot": r.slot, "holder_key": r.holder_key} for r in releases])


_RELEASE_SLOT = delete(ConcurrencySlotRow).where(
    ConcurrencySlotRow.slot == bindparam("slot"), ConcurrencySlotRow.holder_key == bindparam("holder_key")
)

_GROW_BATCH = (
    update(DebounceBatchRow)
    .where(DebounceBatchRow.id == bindparam("batch_id"))
    .values(
        leader_event_id=bindparam("leader"),
        size=bindparam("grown_size"),
        last_at=bindparam("now"),
        due_at=bindparam("due"),
    )
)
"""A batch that events joined: its leader, size, latest event and due time, as absolute values."""


def _opened(group: Sequence[BatchJoin], open_key: str, now: datetime) -> dict[str, Any]:
    """The row of a batch the group's first event would open (if its key has no open batch)."""
    first = group[0]
    return {
        "id": uuid.uuid4().hex,
        "rule": first.rule,
        "key": first.key,
        "open_key": open_key,
        "leader_event_id": first.event_id,
        "size": 0,
        "first_at": now,
        "last_at": now,
        "due_at": now + first.quiet,
    }


_BATCH_COLUMNS = (
    DebounceBatchRow.id,
    DebounceBatchRow.leader_event_id,
    DebounceBatchRow.size,
    DebounceBatchRow.first_at,
    DebounceBatchRow.due_at,
    DebounceBatchRow.closed_at,
)


def _membership(batch: Row[Any]) -> BatchMembership:
    return BatchMembership(
        batch_id=batch.id,
        leader_event_id=batch.leader_event_id,
        due_at=aware(batch.due_at),
        closed=batch.closed_at is not None,
        size=batch.size,
    )
