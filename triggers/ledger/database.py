"""The one database helper every part of the ledger works through.

The event store, the dispatch queue, the action log, the cursors, the read
model and the dispatch coordination each own their queries, but they share how
a query reaches the database:

* the engine, configured per dialect: SQLite in WAL mode, with writers that
  start ``BEGIN IMMEDIATE`` so they queue on the database lock instead of
  failing half-way with ``SQLITE_BUSY``, and readers that start a deferred
  ``BEGIN`` so they never wait for the writer; PostgreSQL with a checked pool;
* short transactions (:meth:`LedgerDatabase.transaction`,
  :meth:`LedgerDatabase.reading`, :meth:`LedgerDatabase.leasing`), the dialect's ``INSERT ... ON CONFLICT``
  and row lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's immediate
  transaction already serialises writers);
* :func:`operation`, the decorator of every public operation: it runs the
  whole transaction again while a PostgreSQL server is restarting (see
  ``triggers.ledger.reconnect``), and turns whatever SQLAlchemy raises into the
  ledger's own errors (``triggers.ledger.errors``). Because an operation may
  run again after its commit went through and only the answer was lost, every
  write in it must be idempotent: inserts ``ON CONFLICT``, updates to absolute
  values, or a change guarded by a token that the first run left behind;
* the in-process :class:`~triggers.ledger.wakeup.Wakeup` and the PostgreSQL
  ``NOTIFY`` that tell dispatchers an event became due.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import ColumnElement, Engine, bindparam, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from core.clock import Clock, utc_now
from triggers.ledger.errors import LedgerRefusedError, LedgerUnavailableError
from triggers.ledger.reconnect import retried_while_unreachable
from triggers.ledger.wakeup import CHANNEL, Wakeup

_READ_ONLY = "ledger_read_only"
"""Execution option of the connections that only read (see :meth:`LedgerDatabase.reading`)."""

_LEASE = "ledger_lease"
"""Execution option of the transactions that only lease events to a dispatcher (see :meth:`LedgerDatabase.leasing`)."""

_COMMIT_MODE = "ledger_commit_mode"
"""Key in a pooled SQLite connection's ``info``: whether its pragmas are set for a lease or for a durable write."""

_SQLITE_AUTOCHECKPOINT_PAGES = 1000
"""SQLite's own default: a commit that leaves the WAL longer than this copies it back into the database file."""

_NOTIFY_DUE = text(f"NOTIFY {CHANNEL}")
"""Sent in a transaction that made an event due; PostgreSQL delivers it on commit to every listening dispatcher."""

P = ParamSpec("P")
R = TypeVar("R")


def operation(run: Callable[P, R]) -> Callable[P, R]:
    """Decorates one whole ledger transaction: retried while the server is unreachable, errors made the ledger's."""
    return translated_errors(retried_while_unreachable(run))


def translated_errors(run: Callable[P, R]) -> Callable[P, R]:
    """Raise the ledger's own errors instead of SQLAlchemy's (for a check that must answer at once, not retry)."""

    @functools.wraps(run)
    def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return run(*args, **kwargs)
        except (OperationalError, InterfaceError, PoolTimeoutError) as e:
            raise LedgerUnavailableError(f"ledger database unavailable: {_driver_message(e)}") from e
        except SQLAlchemyError as e:
            raise LedgerRefusedError(f"ledger database refused the operation: {_driver_message(e)}") from e

    return translated


def _driver_message(error: SQLAlchemyError) -> str:
    """The driver's own words on one line, without the statement and its parameters (which may hold payloads)."""
    reason = error.orig if isinstance(error, DBAPIError) else None
    return " ".join((str(reason) if reason is not None else type(error).__name__).split())


def listed(column: InstrumentedAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)`` with the values written into the statement, for the long id lists of a batch.

    Bound one by one, a hundred ids are a list PostgreSQL compares each row with in turn; in a fresh ledger,
    whose tables grew faster than autovacuum analyzes them, it scans whole tables that way (15 ms per claimed
    batch at 10,000 rows). Written out, the list is a constant it hashes, and estimates from once it has
    statistics. SQLAlchemy quotes each value as a literal of the column's type.
    """
    return column.in_(bindparam(None, list(values), type_=column.type, expanding=True, literal_execute=True))


def _json_dumps(value: Any) -> str:
    """JSON columns go through orjson (measured faster than pydantic's own ``model_dump_json`` for envelopes)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={_SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        record.info[_COMMIT_MODE] = "durable"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(_READ_ONLY):  # a deferred BEGIN: in WAL mode it neither waits for nor holds up the writer
            conn.exec_driver_sql("BEGIN")
            return
        _set_commit_mode(conn.connection, "lease" if options.get(_LEASE) else "durable", synchronous)
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _set_commit_mode(pooled: Any, mode: str, synchronous: str) -> None:
    """Set a SQLite connection's pragmas for the write about to begin, unless its last write left them so.

    A lease commits to the WAL without waiting for the disk (``synchronous=NORMAL``) and never copies the WAL back
    into the database file on its commit (no auto-checkpoint): the next durable commit does both, off the path from
    a stored event to its action (see :meth:`LedgerDatabase.leasing`).
    """
    if pooled.info.get(_COMMIT_MODE) == mode:
        return
    leasing = mode == "lease"
    sqlite_conn = pooled.driver_connection
    sqlite_conn.execute(f"PRAGMA synchronous={'NORMAL' if leasing else synchronous}")
    sqlite_conn.execute(f"PRAGMA wal_autocheckpoint={0 if leasing else _SQLITE_AUTOCHECKPOINT_PAGES}")
    pooled.info[_COMMIT_MODE] = mode


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


class LedgerDatabase:
    """The engine, its transactions and dialect, the clock and the due-event signal that the ledger's parts share."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self.wakeup = Wakeup()
        """Signalled in this process after a commit made an event due (see ``triggers.ledger.wakeup``)."""
        self.is_postgres = engine.dialect.name == "postgresql"
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._read_session = sessionmaker(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)
        self._lease_session = sessionmaker(engine.execution_options(**{_LEASE: True}), expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A writing transaction, committed when the block ends (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._session.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: status pages and counts never queue behind ingest's writes."""
        with self._read_session.begin() as session:
            yield session

    @contextmanager
    def leasing(self) -> Iterator[Session]:
        """A writing transaction that only leases due events to a dispatcher, on the path to their actions.

        On SQLite it commits without waiting for the disk and leaves the WAL's checkpoint to the next durable
        commit: an fsync (or a checkpoint) on a busy disk took up to 170 ms, most of an idle event's wait for its
        action. Nothing the lease guarantees needs it on disk: it is in the WAL once committed, so a killed
        process loses nothing and every other dispatcher sees it at once, and only a crash of the whole machine,
        which stops every dispatcher of the file with it, can undo it. The event is then due again and its actions
        are repeated under their own keys, as after a dispatcher killed before its outcome; the outcome's own
        commit is durable, and carries the lease to disk with it. On PostgreSQL, where a server that fails over
        could forget a lease while its dispatcher acts on, it is an ordinary transaction.
        """
        with self._lease_session.begin() as session:
            yield session

    def insert(self) -> Any:
        """The dialect's ``insert`` construct, which has ``on_conflict_do_nothing`` and ``on_conflict_do_update``."""
        return postgresql.insert if self.is_postgres else sqlite.insert

    def locked(self, session: Session, query: Any) -> Any:
        """The one row ``query`` selects, locked until the transaction ends, or ``None``."""
        return session.execute(query.with_for_update() if self.is_postgres else query).scalar_one_or_none()

    def announce_due(self, session: Session) -> None:
        """Tell dispatchers in other processes, when ``session`` commits, that an event became due (PostgreSQL)."""
        if self.is_postgres:
            session.execute(_NOTIFY_DUE)

    @translated_errors
    def ping(self) -> None:
        """Check the database answers now (readiness); unlike an operation, it does not wait for a restart."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()

    def close(self) -> None:
        self.engine.dispose()
