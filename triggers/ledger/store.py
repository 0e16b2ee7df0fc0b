"""The ledger's operations, on SQLite (single node) or PostgreSQL (replicas).

Every method is one short transaction. SQLite transactions start with
``BEGIN IMMEDIATE`` so writers queue on the database lock instead of failing
half-way with ``SQLITE_BUSY``; PostgreSQL claims rows with
``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers never wait on, or take,
each other's events.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Engine, Text, bindparam, cast, create_engine, event, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, utc_now
from core.errors import PermanentError, TemporaryError
from triggers.actions.base import ActionStatus
from triggers.event import Event
from triggers.ledger.ingest_rows import IngestInsert
from triggers.ledger.reconnect import retried_while_unreachable
from triggers.ledger.schema import ActionRow, CursorRow, DeadLetterRow, EventRow
from triggers.ledger.wakeup import CHANNEL, Wakeup


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
class ActionWrite:
    """An action outcome to store under its action key, written with the event's own outcome."""

    action_key: str
    kind: str
    rule: str
    target: str
    status: str
    detail: dict[str, Any]
    state: ActionState = ActionState()


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


_NOTIFY_STORED = text(f"NOTIFY {CHANNEL}")
"""Sent in the ingest transaction; PostgreSQL delivers it on commit to every listening dispatcher."""


class Ledger:
    """Stores events, their state machine, their actions, dead letters and cursors."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self.wakeup = Wakeup()
        """Signalled after an ingest commit stored something new (see ``triggers.ledger.wakeup``)."""
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._read_session = sessionmaker(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)
        self._is_postgres = engine.dialect.name == "postgresql"
        self._ingest_insert = IngestInsert(engine.dialect)
        upsert = self._insert()(ACTIONS)
        self._upsert_actions = upsert.on_conflict_do_update(
            index_elements=["action_key"], set_={name: upsert.excluded[name] for name in _ACTION_CHANGES}
        )
        """One compiled statement for every action outcome a batch stores (an executemany)."""
        self.owner = f"{os.uname().nodename}:{os.getpid()}"

    @classmethod
    def open(
        cls, url: str, *, migrate: bool = True, sqlite_synchronous: str = "FULL", clock: Clock = utc_now
    ) -> Ledger:
        """Connect, check the database answers, and (with ``migrate``) bring the schema to head.

        Only the service migrates; a command that must not change the schema passes ``migrate=False`` and checks
        :meth:`schema_revision` itself (see ``triggers.ledger.migrate.check_schema``).
        """
        engine = create_ledger_engine(url, sqlite_synchronous)
        ledger = cls(engine, clock)
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

    def _announce(self, session: Session) -> None:
        """Tell dispatchers in other processes, on commit, that an event became due (PostgreSQL only)."""
        if self._is_postgres:
            session.execute(_NOTIFY_STORED)

    @retried_while_unreachable
    def schema_revision(self) -> str | None:
        """The Alembic revision the database's schema is at; ``None`` when it has none."""
        with self._read() as s:
            return MigrationContext.configure(s.connection()).get_current_revision()

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

    def record_many(self, events: Sequence[Event]) -> list[RecordResult]:
        """Store a batch in one transaction; duplicates (by idempotency key) are counted, not stored."""
        if not events:
            return []
        results = self._record_many(events, uuid.uuid4().hex)
        if not all(r.duplicate for r in results):
            self.wakeup.notify()
        return results

    @retried_while_unreachable
    def _record_many(self, events: Sequence[Event], token: str) -> list[RecordResult]:
        """One try at storing a batch; a try after a lost commit finds its events stored under their own ids."""
        now = self.clock()
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
            if inserted_rows:
                self._announce(s)
            redeliveries = Counter(e.idempotency_key for e in events)
            redeliveries.subtract(inserted)
            redeliveries = +redeliveries
            if redeliveries:
                s.connection().execute(
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
                created_at=self.clock(),
            )
            .on_conflict_do_nothing(index_elements=["origin_key"])
        )
        with self._tx() as s:
            s.execute(stmt)

    @retried_while_unreachable
    def dead_letter_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        now = self.clock()
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
        now = self.clock()
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
    def finish(self, outcomes: Sequence[EventOutcome]) -> None:
        """End the leases of claimed events with their outcomes and their actions' outcomes, all in one transaction.

        The dispatcher hands in a whole claimed batch at once: one commit (one fsync on SQLite) for the batch
        instead of one per event. Every value is absolute, so the transaction may run twice.
        """
        if not outcomes:
            return
        now = self.clock()
        actions = [_action_row(o.event_id, a, now) for o in outcomes for a in o.actions]
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for o in outcomes:
            row = {f"new_{column}": value for column, value in o.values.items()}
            by_columns.setdefault(tuple(sorted(o.values)), []).append({**row, "event_id": o.event_id})
        with self._tx() as s:
            conn = s.connection()
            if actions:
                conn.execute(self._upsert_actions, actions)
            for columns, rows in by_columns.items():
                conn.execute(_finish_statement(columns), [{**row, "now": now} for row in rows])

    def mark_done(
        self, event_id: str, matched_rules: list[Any] | None = None, *, actions: Sequence[ActionWrite] = ()
    ) -> None:
        self.finish([EventOutcome.done(event_id, matched_rules, actions)])

    def mark_ignored(self, event_id: str, reason: str, matched_rules: list[Any] | None = None) -> None:
        self.finish([EventOutcome.ignored(event_id, reason, matched_rules)])

    def mark_retry(
        self, event_id: str, error: str, next_attempt_at: datetime, *, actions: Sequence[ActionWrite] = ()
    ) -> None:
        self.finish([EventOutcome.retry(event_id, error, next_attempt_at, actions)])

    def defer(self, claimed: ClaimedEvent, until: datetime, *, actions: Sequence[ActionWrite] = ()) -> None:
        self.finish([EventOutcome.deferred(claimed, until, actions)])

    def mark_dead(
        self,
        event_id: str,
        reason: str,
        matched_rules: list[Any] | None = None,
        *,
        actions: Sequence[ActionWrite] = (),
    ) -> None:
        self.finish([EventOutcome.dead(event_id, reason, matched_rules, actions)])

    @retried_while_unreachable
    def actions_of(self, event_ids: Sequence[str]) -> dict[str, tuple[ActionRecord, ...]]:
        """The recorded actions of each of these events (one read for a claimed batch)."""
        found: dict[str, list[ActionRecord]] = {event_id: [] for event_id in event_ids}
        if not event_ids:
            return {}
        with self._read() as s:
            query = select(ActionRow).where(ActionRow.event_id.in_(list(event_ids))).order_by(ActionRow.id)
            for row in s.execute(query).scalars():
                found[row.event_id].append(_action(row))
        return {event_id: tuple(actions) for event_id, actions in found.items()}

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
        record = self.get(event_id)
        if record is None:
            raise PermanentError(f"no event with id {event_id!r}")
        if action_key is None:
            self._replay(event_id, record.replays + 1)
            self.wakeup.notify()
            return
        action = next((a for a in record.actions if a.action_key == action_key), None)
        if action is None:
            raise PermanentError(f"event {event_id!r} has no action {action_key!r}")
        if action.status != ActionStatus.FAILED:
            raise PermanentError(f"action {action_key!r} is {action.status}; only a failed action is replayed alone")
        self._replay_action(event_id, action_key, action.state.replays + 1)
        self.wakeup.notify()

    @retried_while_unreachable
    def _replay_action(self, event_id: str, action_key: str, generation: int) -> None:
        """Queue action replay ``generation`` and its event, unless the action already has it."""
        now = self.clock()
        with self._tx() as s:
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
            self._announce(s)
            s.execute(
                update(EventRow)
                .where(EventRow.id == event_id)
                .values(
                    state=EventState.RECEIVED.value,
                    attempts=0,
                    next_attempt_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=None,
                    updated_at=now,
                )
            )

    @retried_while_unreachable
    def _replay(self, event_id: str, generation: int) -> None:
        """Start replay ``generation`` unless the event already has it (this try's commit went through)."""
        now = self.clock()
        with self._tx() as s:
            started = s.execute(
                update(EventRow)
                .where(EventRow.id == event_id, EventRow.replays < generation)
                .values(
                    state=EventState.RECEIVED.value,
                    attempts=0,
                    next_attempt_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    replays=generation,
                )
                .returning(EventRow.id)
            ).scalar_one_or_none()
            if started is None:
                return
            self._announce(s)
            abandoned = select(ActionRow).where(
                ActionRow.event_id == event_id, ActionRow.status.in_(_UNFINISHED_ACTIONS)
            )
            for action in s.execute(abandoned).scalars():
                action.status = ActionStatus.SUPERSEDED.value
                action.detail = {**action.detail, "superseded_by": f"replay {generation}"}
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
        state: ActionState = ActionState(),
    ) -> None:
        """Insert or update the action with this key (the key is what makes it idempotent)."""
        action = ActionWrite(action_key, kind, rule, target, status, detail or {}, state)
        with self._tx() as s:
            s.execute(self._upsert_action(event_id, action, self.clock()))

    def _upsert_action(self, event_id: str, action: ActionWrite, now: datetime) -> Any:
        return self._upsert_actions.values(_action_row(event_id, action, now))

    @retried_while_unreachable
    def get_action(self, action_key: str) -> ActionRecord | None:
        with self._read() as s:
            row = s.execute(select(ActionRow).where(ActionRow.action_key == action_key)).scalar_one_or_none()
            return _action(row) if row else None

    # ---- cursors (watcher state, alias tables) --------------------------

    @retried_while_unreachable
    def get_cursor(self, name: str) -> dict[str, Any] | None:
        with self._read() as s:
            row = s.get(CursorRow, name)
            return dict(row.value) if row else None

    @retried_while_unreachable
    def put_cursor(self, name: str, value: dict[str, Any]) -> None:
        now = self.clock()
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


ACTIONS = ActionRow.__table__
_ACTION_CHANGES = ("target", "status", "detail", *(f.name for f in fields(ActionState)), "updated_at")
"""What a later outcome of an action key overwrites; its kind, rule, event and creation stay."""


def _action_row(event_id: str, action: ActionWrite, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "action_key": action.action_key,
        "kind": action.kind,
        "rule": action.rule,
        "target": action.target,
        "status": action.status,
        "detail": action.detail,
        **asdict(action.state),
        "created_at": now,
        "updated_at": now,
    }


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
        ActionState(
            attempts=row.attempts,
            poll_failures=row.poll_failures,
            replays=row.replays,
            started_at=_aware_or_none(row.started_at),
            next_attempt_at=_aware_or_none(row.next_attempt_at),
            deadline_at=_aware_or_none(row.deadline_at),
            last_error=row.last_error,
        ),
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


def _aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value)


def _record(row: EventRow, actions: tuple[ActionRecord, ...]) -> EventRecord:
    return EventRecord(
        event=Event.model_validate(row.envelope),
        state=EventState(row.state),
        attempts=row.attempts,
        duplicates=row.duplicates,
        replays=row.replays,
        last_error=row.last_error,
        matched_rules=list(row.matched_rules or []),
        next_attempt_at=_aware(row.next_attempt_at),
        received_at=_aware(row.received_at),
        updated_at=_aware(row.updated_at),
        actions=actions,
    )
