"""What the status API and the ``events`` commands show: events, their actions and dead letters, read only.

Every read runs in a reading transaction (a deferred ``BEGIN`` on SQLite), so a
status page never queues behind ingest's writes. Lists never load payloads:
summaries leave the envelope out, errors and reasons are cut in the query, and
sizes are measured by the database, so one large event cannot swell a page.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Text, cast, func, select

from triggers.ledger.database import LedgerDatabase, operation
from triggers.ledger.records import (
    ActionRecord,
    DeadLetter,
    DeadLetterSummary,
    EventRecord,
    EventSummary,
    action_record,
    aware,
    dead_letter_record,
    event_record,
    summary_record,
)
from triggers.ledger.schema import ActionRow, DeadLetterRow, EventRow

_SUMMARY_COLUMNS = (
    EventRow.id,
    EventRow.source,
    EventRow.type,
    EventRow.subject,
    EventRow.time,
    EventRow.state,
    EventRow.attempts,
    EventRow.duplicates,
    EventRow.matched_rules,
    EventRow.next_attempt_at,
    EventRow.received_at,
    EventRow.updated_at,
)
"""The columns of :class:`EventSummary` (then the cut ``last_error``): never ``envelope``."""


class ReadModel:
    def __init__(self, database: LedgerDatabase) -> None:
        self._db = database

    @operation
    def schema_revision(self) -> str | None:
        """The Alembic revision the database's schema is at; ``None`` when it has none."""
        with self._db.reading() as s:
            return MigrationContext.configure(s.connection()).get_current_revision()

    @operation
    def get(self, event_id: str) -> EventRecord | None:
        with self._db.reading() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                return None
            actions = s.execute(
                select(ActionRow).where(ActionRow.event_id == event_id).order_by(ActionRow.id)
            ).scalars()
            return event_record(row, tuple(action_record(a) for a in actions))

    @operation
    def list_events(
        self, *, states: Sequence[str] | None = None, limit: int = 100, offset: int = 0
    ) -> list[EventRecord]:
        query = select(EventRow).order_by(EventRow.received_at.desc(), EventRow.id).limit(limit).offset(offset)
        if states:
            query = query.where(EventRow.state.in_(list(states)))
        with self._db.reading() as s:
            rows = list(s.execute(query).scalars())
            by_event: dict[str, list[ActionRecord]] = {}
            if rows:
                for a in s.execute(
                    select(ActionRow).where(ActionRow.event_id.in_([r.id for r in rows])).order_by(ActionRow.id)
                ).scalars():
                    by_event.setdefault(a.event_id, []).append(action_record(a))
            return [event_record(r, tuple(by_event.get(r.id, ()))) for r in rows]

    @operation
    def summaries(
        self, *, states: Sequence[str] | None = None, limit: int = 100, offset: int = 0, error_chars: int = 2000
    ) -> list[EventSummary]:
        """Events newest first without their payloads, which are never read: a page costs its summaries only.

        ``last_error`` is cut to ``error_chars`` in the query, so one long error cannot swell a page either.
        """
        query = (
            select(*_SUMMARY_COLUMNS, func.substr(EventRow.last_error, 1, error_chars))
            .order_by(EventRow.received_at.desc(), EventRow.id)
            .limit(limit)
            .offset(offset)
        )
        if states:
            query = query.where(EventRow.state.in_(list(states)))
        with self._db.reading() as s:
            rows = list(s.execute(query))
            by_event: dict[str, list[ActionRecord]] = {}
            if rows:
                for a in s.execute(
                    select(ActionRow).where(ActionRow.event_id.in_([r[0] for r in rows])).order_by(ActionRow.id)
                ).scalars():
                    by_event.setdefault(a.event_id, []).append(action_record(a))
            return [summary_record(r, tuple(by_event.get(r[0], ()))) for r in rows]

    @operation
    def summary(self, event_id: str, *, error_chars: int = 2000) -> EventSummary | None:
        """One event as :meth:`summaries` lists it, or ``None``."""
        query = select(*_SUMMARY_COLUMNS, func.substr(EventRow.last_error, 1, error_chars)).where(
            EventRow.id == event_id
        )
        with self._db.reading() as s:
            row = s.execute(query).first()
            if row is None:
                return None
            actions = s.execute(
                select(ActionRow).where(ActionRow.event_id == event_id).order_by(ActionRow.id)
            ).scalars()
            return summary_record(row, tuple(action_record(a) for a in actions))

    @operation
    def envelope_size(self, event_id: str) -> int | None:
        """The stored envelope's size in characters of JSON, measured by the database without loading it."""
        with self._db.reading() as s:
            size = s.execute(
                select(func.length(cast(EventRow.envelope, Text))).where(EventRow.id == event_id)
            ).scalar_one_or_none()
            return None if size is None else int(size)

    @operation
    def count_by_state(self) -> dict[str, int]:
        with self._db.reading() as s:
            return {state: n for state, n in s.execute(select(EventRow.state, func.count()).group_by(EventRow.state))}

    @operation
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._db.reading() as s:
            rows = s.execute(select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)).scalars()
            return [dead_letter_record(r) for r in rows]

    @operation
    def dead_letter_summaries(
        self, *, limit: int = 100, offset: int = 0, reason_chars: int = 2000
    ) -> list[DeadLetterSummary]:
        """Dead letters newest first, their payloads measured by the database and never read.

        ``reason`` is cut to ``reason_chars`` in the query, as :meth:`summaries` cuts ``last_error``.
        """
        query = (
            select(
                DeadLetterRow.id,
                DeadLetterRow.origin,
                DeadLetterRow.origin_key,
                func.substr(DeadLetterRow.reason, 1, reason_chars),
                func.length(DeadLetterRow.payload),
                DeadLetterRow.event_id,
                DeadLetterRow.created_at,
            )
            .order_by(DeadLetterRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._db.reading() as s:
            return [
                DeadLetterSummary(row_id, origin, key, reason, int(size or 0), event_id, aware(created))
                for row_id, origin, key, reason, size, event_id, created in s.execute(query)
            ]

    @operation
    def dead_letter_size(self, dead_letter_id: int) -> int | None:
        """One dead letter's payload size in bytes, measured by the database without loading it."""
        with self._db.reading() as s:
            size = s.execute(
                select(func.length(DeadLetterRow.payload)).where(DeadLetterRow.id == dead_letter_id)
            ).scalar_one_or_none()
            return None if size is None else int(size)

    @operation
    def get_dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        with self._db.reading() as s:
            row = s.get(DeadLetterRow, dead_letter_id)
            return None if row is None else dead_letter_record(row)
