"""Named JSON positions that outlive the process: the registry watcher's baseline, where each MLflow alias points.

A cursor is written whole (an upsert of its absolute value), so writing it
again after a lost commit acknowledgement changes nothing. Retention never
deletes cursors: they are live state, not history.
"""

from __future__ import annotations

from typing import Any

from triggers.ledger.database import LedgerDatabase, operation
from triggers.ledger.schema import CursorRow


class Cursors:
    def __init__(self, database: LedgerDatabase) -> None:
        self._db = database

    @operation
    def get(self, name: str) -> dict[str, Any] | None:
        with self._db.reading() as s:
            row = s.get(CursorRow, name)
            return dict(row.value) if row else None

    @operation
    def put(self, name: str, value: dict[str, Any]) -> None:
        now = self._db.clock()
        stmt = self._db.insert()(CursorRow).values(name=name, value=value, updated_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": now})
        with self._db.transaction() as s:
            s.execute(stmt)
