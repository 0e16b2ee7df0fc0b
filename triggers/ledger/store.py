"""The ledger's operations, on SQLite (single node) or PostgreSQL (replicas).

Every method is one short transaction. SQLite transactions start with
``BEGIN IMMEDIATE`` so writers queue on the database lock instead of failing
half-way with ``SQLITE_BUSY``; PostgreSQL claims rows with
``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers never wait on, or take,
each other's events.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Engine, Text, bindparam, cast, create_engine, event, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import PermanentError, TemporaryError
from triggers.actions.base import ActionStatus
from triggers.event import Event
from triggers.ledger.ingest_rows import IngestInsert
from triggers.ledger.reconnect import retried_while_unreachable
from triggers.ledger.schema import ActionRow, CursorRow, DeadLetterRow, EventRow


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
_UNFINISHED_ACTIONS = (
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
    event: Event
    attempts: int
    replays: int = 0


@dataclass(frozen=True)
class ActionWrite:
    """An action outcome to store under its action key, written with the event's own outcome."""

    action_key: str
    kind: str
    rule: str
    target: str
    status: str
    detail: dict[str, Any]


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


@dataclass(frozen=True)
class EventRecord:
    event: Event
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


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json_dumps(value: Any) -> str:
    """JSON columns go through orjson (measured faster than pydantic's own ``model_dump_json`` for envelopes)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_READ_ONLY = "ledger_read_only"
"""Execution option of the connections that only read (see ``Ledger._read``)."""


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A reader takes a deferred BEGIN: in WAL mode it neither waits for nor holds up the one writer.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


def create_ledger_engine(url: str, sqlite_synchronous: str = "FULL") -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


EVENTS = EventRow.__table__

_COUNT_REDELIVERIES = (
    update(EventRow)
    .where(EventRow.idempotency_key == bindparam("key"))
    .values(duplicates=EventRow.duplicates + bindparam("count"), updated_at=bindparam("now"))
)
"""One cached statement for every redelivered key of a batch, run as a single executemany."""


class Ledger:
    """Stores events, their state machine, their actions, dead letters and cursors."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._read_session = sessionmaker(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)
        self._is_postgres = engine.dialect.name == "postgresql"
        self._ingest_insert = IngestInsert(engine.dialect)
        self.owner = f"{os.uname().nodename}:{os.getpid()}"

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, sqlite_synchronous: str = "FULL") -> Ledger:
        """Connect, check the database answers, and bring the schema to head."""
        engine = create_ledger_engine(url, sqlite_synchronous)
        ledger = cls(engine)
        try:
            if migrate:
                from triggers.ledger.migrate import upgrade

                upgrade(engine)
            ledger.ping()
        except OperationalError as e:
            raise TemporaryError(f"ledger database unreachable ({engine.url.render_as_string()}): {e.orig}") from e
        except SQLAlchemyError as e:
            raise PermanentError(f"ledger database unusable ({engine.url.render_as_string()}): {e}") from e
        return ledger

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._session.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A transaction that only reads: status pages and counts never queue behind ingest's writes."""
        with self._read_session.begin() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()

    # ---- ingest ---------------------------------------------------------

    def _insert(self) -> Any:
        return postgresql.insert if self._is_postgres else sqlite.insert

    def record(self, event: Event) -> RecordResult:
        """Store a new event, or count a redelivery of one already stored."""
        return self.record_many([event])[0]

    @retried_while_unreachable
    def record_many(self, events: Sequence[Event]) -> list[RecordResult]:
        """Store a batch in one transaction; duplicates (by idempotency key) are counted, not stored."""
        if not events:
            return []
        now = _now()
        unique = _unique_by_key(events)
        batch_id = {e.idempotency_key: e.id for e in unique}
        with self._tx() as s:
            inserted_rows = self._ingest_insert.run(s.connection(), unique, state=EventState.RECEIVED.value, now=now)
            if inserted_rows == len(unique):
                stored_id = batch_id
            else:
                key = EVENTS.c.idempotency_key
                stored = select(key, EVENTS.c.id).where(key.in_(list(batch_id)))
                stored_id = dict(s.connection().execute(stored).tuples().all())
            inserted = {key for key, event_id in stored_id.items() if batch_id[key] == event_id}
            redeliveries = Counter(e.idempotency_key for e in events)
            redeliveries.subtract(inserted)
            redeliveries = +redeliveries
            if redeliveries:
                s.connection().execute(
                    _COUNT_REDELIVERIES,
                    [{"key": key, "count": count, "now": now} for key, count in redeliveries.items()],
                )
        seen: set[str] = set()
        results = []
        for e in events:
            fresh = e.idempotency_key in inserted and e.idempotency_key not in seen
            seen.add(e.idempotency_key)
            results.append(RecordResult(stored_id[e.idempotency_key], duplicate=not fresh))
        return results

    @retried_while_unreachable
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
            self._insert()(DeadLetterRow)
            .values(
                origin=origin,
                origin_key=origin_key,
                reason=reason,
                payload=payload,
                headers=headers or {},
                event_id=event_id,
                created_at=_now(),
            )
            .on_conflict_do_nothing(index_elements=["origin_key"])
        )
        with self._tx() as s:
            s.execute(stmt)

    @retried_while_unreachable
    def dead_letter_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        now = _now()
        values = [{"headers": {}, "event_id": None, **r, "created_at": now} for r in rows]
        stmt = self._insert()(DeadLetterRow.__table__).on_conflict_do_nothing(index_elements=["origin_key"])
        with self._tx() as s:
            s.execute(stmt, values)

    # ---- dispatch -------------------------------------------------------

    @retried_while_unreachable
    def claim_due(
        self, limit: int = 10, lease: timedelta = timedelta(minutes=5), owner: str | None = None
    ) -> list[ClaimedEvent]:
        """Lease up to ``limit`` due events to this worker.

        Due means received or retrying with ``next_attempt_at`` passed, or
        dispatched under a lease that expired (its worker died).
        """
        now = _now()
        owner = owner or self.owner
        due = or_(
            (EventRow.state.in_([s.value for s in CLAIMABLE])) & (EventRow.next_attempt_at <= now),
            (EventRow.state == EventState.DISPATCHED.value) & (EventRow.lease_expires_at < now),
        )
        query = select(EventRow).where(due).order_by(EventRow.next_attempt_at).limit(limit)
        if self._is_postgres:
            query = query.with_for_update(skip_locked=True)
        claimed = []
        with self._tx() as s:
            for row in s.execute(query).scalars():
                row.updated_at = now
                try:
                    event = Event.model_validate(row.envelope)
                except ValidationError as e:  # one unreadable row must not stop every dispatcher
                    row.state = EventState.DEAD_LETTERED.value
                    row.last_error = f"the stored event cannot be read back: {e.errors()[0]['msg']}"
                    continue
                row.state = EventState.DISPATCHED.value
                row.lease_owner = owner
                row.lease_expires_at = now + lease
                row.attempts += 1
                claimed.append(ClaimedEvent(event, row.attempts, row.replays))
        return claimed

    @retried_while_unreachable
    def _finish(self, event_id: str, actions: Sequence[ActionWrite], **values: Any) -> None:
        """End the lease on a claimed event and store the outcomes of the actions it led to, in one transaction."""
        now = _now()
        with self._tx() as s:
            for action in actions:
                s.execute(self._upsert_action(event_id, action, now))
            s.execute(
                update(EventRow)
                .where(EventRow.id == event_id)
                .values(lease_owner=None, lease_expires_at=None, updated_at=now, **values)
            )

    def mark_done(
        self, event_id: str, matched_rules: list[Any] | None = None, *, actions: Sequence[ActionWrite] = ()
    ) -> None:
        self._finish(event_id, actions, state=EventState.DONE.value, last_error=None, **_rules(matched_rules))

    def mark_ignored(self, event_id: str, reason: str, matched_rules: list[Any] | None = None) -> None:
        self._finish(event_id, (), state=EventState.IGNORED.value, last_error=reason, **_rules(matched_rules))

    def mark_retry(
        self, event_id: str, error: str, next_attempt_at: datetime, *, actions: Sequence[ActionWrite] = ()
    ) -> None:
        self._finish(
            event_id, actions, state=EventState.RETRYING.value, last_error=error, next_attempt_at=next_attempt_at
        )

    def defer(self, event_id: str, until: datetime, *, actions: Sequence[ActionWrite] = ()) -> None:
        """Hand a claimed event back until ``until`` without spending an attempt (debounce, queue, run follow-up)."""
        self._finish(
            event_id,
            actions,
            state=EventState.RECEIVED.value,
            next_attempt_at=until,
            attempts=EventRow.attempts - 1,
            last_error=None,
        )

    def mark_dead(
        self,
        event_id: str,
        reason: str,
        matched_rules: list[Any] | None = None,
        *,
        actions: Sequence[ActionWrite] = (),
    ) -> None:
        self._finish(
            event_id, actions, state=EventState.DEAD_LETTERED.value, last_error=reason, **_rules(matched_rules)
        )

    @retried_while_unreachable
    def replay(self, event_id: str) -> None:
        """Put an event back in the queue, whatever its state, with fresh attempts.

        A replay is a new generation of the event's actions (their keys count
        replays). Actions of the earlier generation that never finished (left
        ``retrying`` by a dead letter, queued, running) are closed as
        ``superseded`` by the replay in the same transaction, so the history
        never shows an abandoned attempt as still going.
        """
        now = _now()
        with self._tx() as s:
            replays = s.execute(
                update(EventRow)
                .where(EventRow.id == event_id)
                .values(
                    state=EventState.RECEIVED.value,
                    attempts=0,
                    next_attempt_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    replays=EventRow.replays + 1,
                )
                .returning(EventRow.replays)
            ).scalar_one_or_none()
            if replays is None:
                raise PermanentError(f"no event with id {event_id!r}")
            abandoned = select(ActionRow).where(
                ActionRow.event_id == event_id, ActionRow.status.in_(_UNFINISHED_ACTIONS)
            )
            for action in s.execute(abandoned).scalars():
                action.status = ActionStatus.SUPERSEDED.value
                action.detail = {**action.detail, "superseded_by": f"replay {replays}"}
                action.updated_at = now

    # ---- actions --------------------------------------------------------

    @retried_while_unreachable
    def record_action(
        self,
        event_id: str,
        *,
        action_key: str,
        kind: str,
        rule: str = "",
        target: str = "",
        status: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Insert or update the action with this key (the key is what makes it idempotent)."""
        action = ActionWrite(action_key, kind, rule, target, status, detail or {})
        with self._tx() as s:
            s.execute(self._upsert_action(event_id, action, _now()))

    def _upsert_action(self, event_id: str, action: ActionWrite, now: datetime) -> Any:
        stmt = self._insert()(ActionRow).values(
            event_id=event_id,
            action_key=action.action_key,
            kind=action.kind,
            rule=action.rule,
            target=action.target,
            status=action.status,
            detail=action.detail,
            created_at=now,
            updated_at=now,
        )
        return stmt.on_conflict_do_update(
            index_elements=["action_key"],
            set_={"target": action.target, "status": action.status, "detail": action.detail, "updated_at": now},
        )

    @retried_while_unreachable
    def get_action(self, action_key: str) -> ActionRecord | None:
        with self._read() as s:
            row = s.execute(select(ActionRow).where(ActionRow.action_key == action_key)).scalar_one_or_none()
            return _action(row) if row else None

    @retried_while_unreachable
    def actions_with_status(self, statuses: Sequence[str], kind: str | None = None) -> list[tuple[str, ActionRecord]]:
        query = select(ActionRow).where(ActionRow.status.in_(list(statuses)))
        if kind:
            query = query.where(ActionRow.kind == kind)
        with self._read() as s:
            return [(r.event_id, _action(r)) for r in s.execute(query.order_by(ActionRow.id)).scalars()]

    # ---- cursors (watcher state, alias tables) --------------------------

    @retried_while_unreachable
    def get_cursor(self, name: str) -> dict[str, Any] | None:
        with self._read() as s:
            row = s.get(CursorRow, name)
            return dict(row.value) if row else None

    @retried_while_unreachable
    def put_cursor(self, name: str, value: dict[str, Any]) -> None:
        now = _now()
        stmt = self._insert()(CursorRow).values(name=name, value=value, updated_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": now})
        with self._tx() as s:
            s.execute(stmt)

    # ---- reads ----------------------------------------------------------

    @retried_while_unreachable
    def get(self, event_id: str) -> EventRecord | None:
        with self._read() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                return None
            actions = s.execute(
                select(ActionRow).where(ActionRow.event_id == event_id).order_by(ActionRow.id)
            ).scalars()
            return _record(row, tuple(_action(a) for a in actions))

    @retried_while_unreachable
    def list_events(
        self, *, states: Sequence[str] | None = None, limit: int = 100, offset: int = 0
    ) -> list[EventRecord]:
        query = select(EventRow).order_by(EventRow.received_at.desc(), EventRow.id).limit(limit).offset(offset)
        if states:
            query = query.where(EventRow.state.in_(list(states)))
        with self._read() as s:
            rows = list(s.execute(query).scalars())
            by_event: dict[str, list[ActionRecord]] = {}
            if rows:
                for a in s.execute(
                    select(ActionRow).where(ActionRow.event_id.in_([r.id for r in rows])).order_by(ActionRow.id)
                ).scalars():
                    by_event.setdefault(a.event_id, []).append(_action(a))
            return [_record(r, tuple(by_event.get(r.id, ()))) for r in rows]

    @retried_while_unreachable
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
        with self._read() as s:
            rows = list(s.execute(query))
            by_event: dict[str, list[ActionRecord]] = {}
            if rows:
                for a in s.execute(
                    select(ActionRow).where(ActionRow.event_id.in_([r[0] for r in rows])).order_by(ActionRow.id)
                ).scalars():
                    by_event.setdefault(a.event_id, []).append(_action(a))
            return [_summary(r, tuple(by_event.get(r[0], ()))) for r in rows]

    @retried_while_unreachable
    def summary(self, event_id: str, *, error_chars: int = 2000) -> EventSummary | None:
        """One event as :meth:`summaries` lists it, or ``None``."""
        query = select(*_SUMMARY_COLUMNS, func.substr(EventRow.last_error, 1, error_chars)).where(
            EventRow.id == event_id
        )
        with self._read() as s:
            row = s.execute(query).first()
            if row is None:
                return None
            actions = s.execute(
                select(ActionRow).where(ActionRow.event_id == event_id).order_by(ActionRow.id)
            ).scalars()
            return _summary(row, tuple(_action(a) for a in actions))

    @retried_while_unreachable
    def envelope_size(self, event_id: str) -> int | None:
        """The stored envelope's size in characters of JSON, measured by the database without loading it."""
        with self._read() as s:
            size = s.execute(
                select(func.length(cast(EventRow.envelope, Text))).where(EventRow.id == event_id)
            ).scalar_one_or_none()
            return None if size is None else int(size)

    @retried_while_unreachable
    def count_by_state(self) -> dict[str, int]:
        with self._read() as s:
            return {state: n for state, n in s.execute(select(EventRow.state, func.count()).group_by(EventRow.state))}

    @retried_while_unreachable
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._read() as s:
            rows = s.execute(select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)).scalars()
            return [_dead_letter(r) for r in rows]

    @retried_while_unreachable
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
        with self._read() as s:
            return [
                DeadLetterSummary(row_id, origin, key, reason, int(size or 0), event_id, _aware(created))
                for row_id, origin, key, reason, size, event_id, created in s.execute(query)
            ]

    @retried_while_unreachable
    def dead_letter_size(self, dead_letter_id: int) -> int | None:
        """One dead letter's payload size in bytes, measured by the database without loading it."""
        with self._read() as s:
            size = s.execute(
                select(func.length(DeadLetterRow.payload)).where(DeadLetterRow.id == dead_letter_id)
            ).scalar_one_or_none()
            return None if size is None else int(size)

    @retried_while_unreachable
    def get_dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        with self._read() as s:
            row = s.get(DeadLetterRow, dead_letter_id)
            return None if row is None else _dead_letter(row)


def _unique_by_key(events: Sequence[Event]) -> list[Event]:
    first: dict[str, Event] = {}
    for e in events:
        first.setdefault(e.idempotency_key, e)
    return list(first.values())


def _rules(matched_rules: list[Any] | None) -> dict[str, Any]:
    return {} if matched_rules is None else {"matched_rules": matched_rules}


def _action(row: ActionRow) -> ActionRecord:
    return ActionRecord(
        row.action_key,
        row.kind,
        row.rule,
        row.target,
        row.status,
        dict(row.detail),
        _aware(row.created_at),
        _aware(row.updated_at),
    )


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


def _dead_letter(r: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        r.id, r.origin, r.origin_key, r.reason, r.payload, dict(r.headers), r.event_id, _aware(r.created_at)
    )


def _summary(row: Any, actions: tuple[ActionRecord, ...]) -> EventSummary:
    (event_id, source, kind, subject, time, state, attempts, duplicates, rules, next_at, received, updated, error) = row
    return EventSummary(
        id=event_id,
        source=source,
        type=kind,
        subject=subject,
        time=_aware(time),
        state=EventState(state),
        attempts=attempts,
        duplicates=duplicates,
        last_error=error,
        matched_rules=list(rules or []),
        next_attempt_at=_aware(next_at),
        received_at=_aware(received),
        updated_at=_aware(updated),
        actions=actions,
    )


def _record(row: EventRow, actions: tuple[ActionRecord, ...]) -> EventRecord:
    return EventRecord(
        event=Event.model_validate(row.envelope),
        state=EventState(row.state),
        attempts=row.attempts,
        duplicates=row.duplicates,
        last_error=row.last_error,
        matched_rules=list(row.matched_rules or []),
        next_attempt_at=_aware(row.next_attempt_at),
        received_at=_aware(row.received_at),
        updated_at=_aware(row.updated_at),
        actions=actions,
    )
