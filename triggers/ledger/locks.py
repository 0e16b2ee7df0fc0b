"""A named lock that every process sharing the ledger respects, held across several ledger transactions.

Some read-derive-write sequences span transactions: the alias/stage table of
the MLflow registry is read, the events derived from it are recorded, and only
then is the table saved, so a crash in between re-derives the same keys. Two
replicas doing that at once would both derive from the same old table and the
later save would drop the other's moves. A lock per process cannot stop that;
this one lives with the database:

* PostgreSQL: a session-level advisory lock on a connection held for the
  block. If the process dies, its connection closes and the lock goes with it,
  so no lease needs to run out.
* SQLite (one host): an exclusive ``flock`` on a file beside the database,
  released by the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def held_across_processes(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock ``name`` for the block; waits while another process (or thread) holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _advisory_key(name)})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _advisory_key(name)})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":  # a database only this process sees
        yield
        return
    lock_file = Path(f"{database}.{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock")
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
