"""Rows of the ``events`` table already in the form the database driver takes, for the ingest insert.

Ingest writes thousands of events a second. Through the typed ORM table,
SQLAlchemy converts every value of every row on the way in (four timestamps and
two JSON documents per event), which cost more than the database spent storing
them. The ingest insert therefore targets an untyped view of the same table and
is handed values converted here: the envelope serialised once by pydantic, the
batch's shared timestamp converted once per batch, each with the dialect's own
converter so the stored text is exactly what the typed table reads back.

On PostgreSQL the JSON text goes as an untyped parameter, which the server
casts to the column's ``json`` type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table
from sqlalchemy.engine import Dialect

from triggers.event import Event
from triggers.ledger.schema import EventRow

EVENTS = Table("events", MetaData(), *(Column(column.name) for column in EventRow.__table__.columns))
"""The ``events`` table without column types: values pass to the driver as given."""

_NO_RULES = "[]"


def timestamp_converter(dialect: Dialect) -> Callable[[datetime], Any]:
    """The dialect's own conversion of a timezone-aware timestamp (text on SQLite, unchanged on PostgreSQL)."""
    convert = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    return convert if convert is not None else _unchanged


def ingest_rows(events: Sequence[Event], *, state: str, now: datetime, dialect: Dialect) -> list[dict[str, Any]]:
    """One new, unclaimed row per event in ``state``, received at ``now``."""
    timestamp = timestamp_converter(dialect)
    received_at = timestamp(now)
    return [
        {
            "id": e.id,
            "idempotency_key": e.idempotency_key,
            "source": e.source,
            "type": e.type.value,
            "subject": e.subject,
            "time": timestamp(e.time),
            "envelope": e.model_dump_json(),
            "state": state,
            "attempts": 0,
            "next_attempt_at": received_at,
            "duplicates": 0,
            "replays": 0,
            "matched_rules": _NO_RULES,
            "received_at": received_at,
            "updated_at": received_at,
        }
        for e in events
    ]


def _unchanged(value: datetime) -> datetime:
    return value
