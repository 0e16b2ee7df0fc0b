"""Ingest: store each delivered event once, count its redeliveries, keep what cannot become an event.

Listeners acknowledge a delivery only after :meth:`EventStore.record_many` has
committed it. The idempotency key decides what is new: a key already stored is
a redelivery, counted on the stored event and never stored again, so a sender's
retry, a Kafka replay or a captured delivery sent again starts nothing.
Each new event also takes its round in the fair dispatch order
(``triggers.ledger.fair_order``), in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update

from triggers.event import Event
from triggers.ledger.database import LedgerDatabase, operation
from triggers.ledger.fair_order import FairOrder
from triggers.ledger.ingest_rows import IngestInsert
from triggers.ledger.records import EventState, RecordResult
from triggers.ledger.schema import DeadLetterRow, EventRow

EVENTS = EventRow.__table__

_COUNT_REDELIVERIES = (
    update(EventRow)
    .where(
        EventRow.idempotency_key == bindparam("key"),
        EventRow.redelivery_token.is_distinct_from(bindparam("token")),
    )
    .values(
        duplicates=EventRow.duplicates + bindparam("count"),
        redelivery_token=bindparam("token"),
        updated_at=bindparam("now"),
    )
)
"""One cached statement for every redelivered key of a batch, run as a single executemany.

The only relative update of the ledger: it is guarded by the batch's token, so the batch's transaction run again
(its commit went through but the acknowledgement was lost) finds its own token on the row and counts nothing twice.
"""


class EventStore:
    """New events and redeliveries (by idempotency key), and dead letters of input that never became an event."""

    def __init__(self, database: LedgerDatabase) -> None:
        self._db = database
        self._insert_events = IngestInsert(database.engine.dialect)
        self._fair_order = FairOrder(database)

    def record(self, event: Event) -> RecordResult:
        """Store a new event, or count a redelivery of one already stored."""
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[Event]) -> list[RecordResult]:
        """Store a batch in one transaction; duplicates (by idempotency key) are counted, not stored."""
        if not events:
            return []
        results = self._record_many(events, uuid.uuid4().hex)
        if not all(r.duplicate for r in results):
            self._db.wakeup.notify()
        return results

    @operation
    def _record_many(self, events: Sequence[Event], token: str) -> list[RecordResult]:
        """One try at storing a batch; a try after a lost commit finds its events stored under their own ids."""
        now = self._db.clock()
        unique = _unique_by_key(events)
        batch_id = {e.idempotency_key: e.id for e in unique}
        with self._db.transaction() as s:
            conn = s.connection()
            rounds = self._fair_order.rounds_for(conn, unique)
            inserted_rows = self._insert_events.run(conn, unique, rounds, state=EventState.RECEIVED.value, now=now)
            if inserted_rows == len(unique):
                stored_id = batch_id
            else:
                key = EVENTS.c.idempotency_key
                stored = select(key, EVENTS.c.id).where(key.in_(list(batch_id)))
                stored_id = dict(conn.execute(stored).tuples().all())
            inserted = {key for key, event_id in stored_id.items() if batch_id[key] == event_id}
            if inserted_rows:
                placed = zip(unique, rounds, strict=True)
                self._fair_order.stored(conn, [(e, r) for e, r in placed if e.idempotency_key in inserted])
                self._db.announce_due(s)
            redeliveries = Counter(e.idempotency_key for e in events)
            redeliveries.subtract(inserted)
            redeliveries = +redeliveries
            if redeliveries:
                conn.execute(
                    _COUNT_REDELIVERIES,
                    [{"key": key, "count": count, "token": token, "now": now} for key, count in redeliveries.items()],
                )
        seen: set[str] = set()
        results = []
        for e in events:
            fresh = e.idempotency_key in inserted and e.idempotency_key not in seen
            seen.add(e.idempotency_key)
            results.append(RecordResult(stored_id[e.idempotency_key], duplicate=not fresh))
        return results

    @operation
    def dead_letter(
        self,
        *,
        origin: str,
        origin_key: str,
        reason: str,
        payload: bytes,
        headers: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> None:
        """Keep input that cannot become an event, with why; idempotent per origin key."""
        stmt = (
            self._db.insert()(DeadLetterRow)
            .values(
                origin=origin,
                origin_key=origin_key,
                reason=reason,
                payload=payload,
                headers=headers or {},
                event_id=event_id,
                created_at=self._db.clock(),
            )
            .on_conflict_do_nothing(index_elements=["origin_key"])
        )
        with self._db.transaction() as s:
            s.execute(stmt)

    @operation
    def dead_letter_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        now = self._db.clock()
        values = [{"headers": {}, "event_id": None, **r, "created_at": now} for r in rows]
        stmt = self._db.insert()(DeadLetterRow.__table__).on_conflict_do_nothing(index_elements=["origin_key"])
        with self._db.transaction() as s:
            s.execute(stmt, values)


def _unique_by_key(events: Sequence[Event]) -> list[Event]:
    first: dict[str, Event] = {}
    for e in events:
        first.setdefault(e.idempotency_key, e)
    return list(first.values())
