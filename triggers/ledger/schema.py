"""Table definitions of the ledger (SQLAlchemy 2 typed ORM).

Alembic migrations under ``migrations/`` create and evolve these tables; the
ORM classes here are what the store queries. Keep the two in step: a change
here needs a new revision there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(512), unique=True)
    source: Mapped[str] = mapped_column(String(512))
    type: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(1024))
    time: Mapped[datetime]
    envelope: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    redelivery_token: Mapped[str | None] = mapped_column(String(32))
    """The ingest batch that last counted redeliveries here: a batch retried after a lost commit counts once."""
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    matched_rules: Mapped[list[Any]] = mapped_column(default=list)
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    fair_round: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Its place in the round-robin over lanes that the dispatch queue claims by (``triggers.ledger.fair_order``)."""

    __table_args__ = (
        Index("ix_events_due", "state", "next_attempt_at"),
        Index("ix_events_fair", "state", "fair_round", "next_attempt_at"),
    )


class ActionRow(Base):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    action_key: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(256), default="")
    target: Mapped[str] = mapped_column(String(512), default="")
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Times the action was performed (a temporary failure counts; following a run does not)."""
    poll_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Failed status checks of the running action in a row; a successful check resets it."""
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Replays of this action alone; each performs it under a fresh request key."""
    started_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeadLetterRow(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin_key: Mapped[str] = mapped_column(String(512), unique=True)
    origin: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    event_id: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]


class CursorRow(Base):
    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class DebounceBatchRow(Base):
    """Events of one rule and key gathered during a quiet period; ``open_key`` is NULL once closed."""

    __tablename__ = "debounce_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(256))
    key: Mapped[str] = mapped_column(String(512))
    open_key: Mapped[str | None] = mapped_column(String(800), unique=True)
    leader_event_id: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class BatchMemberRow(Base):
    __tablename__ = "debounce_batch_members"

    rule: Mapped[str] = mapped_column(String(256), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("debounce_batches.id"), index=True)
    joined_at: Mapped[datetime]


class ConcurrencySlotRow(Base):
    """Who runs under a concurrency key right now (policies ``queue`` and ``replace``)."""

    __tablename__ = "concurrency_slots"

    slot: Mapped[str] = mapped_column(String(800), primary_key=True)
    holder_key: Mapped[str] = mapped_column(String(256))
    event_id: Mapped[str] = mapped_column(String(256))
    acquired_at: Mapped[datetime]


class RateWindowRow(Base):
    """The actions started in the current fixed window of a rate-limited rule, by action key."""

    __tablename__ = "rate_windows"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    window_start: Mapped[datetime]
    counted_keys: Mapped[list[Any]] = mapped_column(default=list)
    """The action keys let start in this window; their number is the window's count (a key counts once)."""


class DispatchLaneRow(Base):
    """The round after the latest event stored in a lane (one source and subject); see ``fair_order``."""

    __tablename__ = "dispatch_lanes"

    lane: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_round: Mapped[int] = mapped_column(BigInteger)


class DispatchProgressRow(Base):
    """The one row holding the highest round the dispatch queue has claimed: the round being served."""

    __tablename__ = "dispatch_progress"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    served_round: Mapped[int] = mapped_column(BigInteger)
