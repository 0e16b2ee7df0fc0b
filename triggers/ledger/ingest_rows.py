"""The insert of new events, run as one driver-level executemany of values already in the driver's form.

Ingest writes thousands of events a second. Through the typed ORM table,
SQLAlchemy converts every value of every row on the way in (four timestamps and
two JSON documents per event) and builds a parameter set per row, which cost
more than the database spent storing them. This insert is compiled once for
the engine's dialect against an untyped view of the same table, and is handed
values converted here: the envelope serialised once by pydantic, the batch's
shared timestamp converted once per batch, each with the dialect's own
converter, so the stored text is exactly what the typed table reads back.

Where the driver takes positional parameters (SQLite), a batch goes in as
multi-row ``INSERT ... VALUES (...), (...)`` statements rather than an
``executemany``: the sqlite3 driver lets go of the GIL for every row of an
executemany and has to win it back before the next, and while another thread
runs Python (the webhook event loop, the Kafka poll loop) every one of those
waits out that thread's switch interval. Measured with one busy thread beside
the writer: 7.5 ms per event instead of 49 us. A multi-row statement lets go
of the GIL once per chunk.

Conflicting idempotency keys are skipped by the database (``ON CONFLICT DO
NOTHING``). When fewer rows went in than were sent, the ledger tells new from
redelivered by reading back which event id each key holds. On PostgreSQL the JSON text goes as an untyped
parameter, which the server casts to the column's ``json`` type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import Column, Connection, DateTime, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from triggers.event import Event
from triggers.ledger.schema import EventRow

COLUMNS = (
    "id",
    "idempotency_key",
    "source",
    "type",
    "subject",
    "time",
    "envelope",
    "state",
    "attempts",
    "next_attempt_at",
    "duplicates",
    "replays",
    "matched_rules",
    "received_at",
    "updated_at",
    "fair_round",
)
"""What a new event row sets, in the order of the values built below."""

_EVENTS = Table("events", MetaData(), *(Column(column.name) for column in EventRow.__table__.columns))
"""The ``events`` table without column types: values pass to the driver as given."""

_NO_RULES = "[]"

ROWS_PER_STATEMENT = 500
"""Rows per multi-row insert; at 16 values a row this stays far below SQLite's 32,766 parameters a statement."""


def timestamp_converter(dialect: Dialect) -> Callable[[datetime], Any]:
    """The dialect's own conversion of a timezone-aware timestamp (text on SQLite, unchanged on PostgreSQL)."""
    convert = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    return convert if convert is not None else _unchanged


class IngestInsert:
    """Inserts new events; one instance per engine, since the statement is compiled for its dialect."""

    def __init__(self, dialect: Dialect) -> None:
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        compiled = (
            insert(_EVENTS)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .compile(dialect=dialect, column_keys=list(COLUMNS))
        )
        self._sql = str(compiled)
        self._positional = dialect.positional
        if self._positional and tuple(compiled.positiontup or ()) != COLUMNS:
            raise AssertionError(f"compiled column order {compiled.positiontup} differs from {COLUMNS}")
        self._timestamp = timestamp_converter(dialect)
        head, _, values = self._sql.partition(" VALUES ")
        row_marks, _, tail = values.partition(") ")
        self._head, self._row_marks, self._tail = head, f"{row_marks})", tail
        if f"{self._head} VALUES {self._row_marks} {self._tail}" != self._sql:
            raise AssertionError(f"cannot repeat the VALUES group of {self._sql!r}")

    def run(
        self, connection: Connection, events: Sequence[Event], rounds: Sequence[int], *, state: str, now: datetime
    ) -> int:
        """Insert ``events`` in ``state``, received at ``now``, each in its round of the fair dispatch order
        (``triggers.ledger.fair_order``); keys already stored are left as they are.

        Returns how many rows were inserted: all of them when none of the keys was stored before.
        """
        received_at = self._timestamp(now)
        rows = [
            (
                e.id,
                e.idempotency_key,
                e.source,
                e.type.value,
                e.subject,
                self._timestamp(e.time),
                e.model_dump_json(),
                state,
                0,
                received_at,
                0,
                0,
                _NO_RULES,
                received_at,
                received_at,
                fair_round,
            )
            for e, fair_round in zip(events, rounds, strict=True)
        ]
        if not self._positional:
            named = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
            return connection.exec_driver_sql(self._sql, named).rowcount
        inserted = 0
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            statement = f"{self._head} VALUES {', '.join([self._row_marks] * len(chunk))} {self._tail}"
            inserted += connection.exec_driver_sql(statement, tuple(chain.from_iterable(chunk))).rowcount
        return inserted


def _unchanged(value: datetime) -> datetime:
    return value
