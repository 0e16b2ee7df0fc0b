"""Each action's own record: its outcome and its state against its own budgets, under its deterministic key.

An action key (``triggers.action_chain.action_key``) names one action of one
rule for one event or debounce batch, so writing an action is an upsert by
key: doing it again after a crash, or after a lost commit acknowledgement,
overwrites the same row with the same absolute values. The dispatch queue
writes a claimed batch's action outcomes with the events' own outcomes, in its
transaction, through :meth:`ActionLog.write_rows`, and a claim reads the
claimed events' actions in its own (:meth:`ActionLog.of_events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from triggers.ledger.database import LedgerDatabase, listed, operation
from triggers.ledger.records import ActionRecord, ActionState, action_record
from triggers.ledger.schema import ActionRow

_CHANGES = ("target", "status", "detail", *(f.name for f in fields(ActionState)), "updated_at")
"""What a later outcome of an action key overwrites; its kind, rule, event and creation stay."""


@dataclass(frozen=True)
class ActionWrite:
    """An action outcome to store under its action key, written with the event's own outcome."""

    action_key: str
    kind: str
    rule: str
    target: str
    status: str
    detail: dict[str, Any]
    state: ActionState = field(default_factory=ActionState)


class ActionLog:
    """Stores and reads actions by key; every write is an upsert of absolute values."""

    def __init__(self, database: LedgerDatabase) -> None:
        self._db = database
        upsert = database.insert()(ActionRow.__table__)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=["action_key"], set_={name: upsert.excluded[name] for name in _CHANGES}
        )
        """One compiled statement for every action outcome a batch stores (an executemany)."""

    @operation
    def record(self, event_id: str, action: ActionWrite) -> None:
        """Insert or update the action with this key, in a transaction of its own."""
        with self._db.transaction() as s:
            self.write_rows(s.connection(), [(event_id, action)], self._db.clock())

    def write_rows(self, conn: Connection, actions: Sequence[tuple[str, ActionWrite]], now: datetime) -> None:
        """Upsert ``(event id, action)`` pairs inside the caller's transaction."""
        if actions:
            conn.execute(self._upsert, [_row(event_id, action, now) for event_id, action in actions])

    @operation
    def get(self, action_key: str) -> ActionRecord | None:
        with self._db.reading() as s:
            row = s.execute(select(ActionRow).where(ActionRow.action_key == action_key)).scalar_one_or_none()
            return action_record(row) if row else None

    @staticmethod
    def of_events(session: Session, event_ids: Sequence[str]) -> dict[str, tuple[ActionRecord, ...]]:
        """The recorded actions of each of these events, oldest first, read in the caller's transaction (a claim
        reads those of the events it leases)."""
        found: dict[str, list[ActionRecord]] = {event_id: [] for event_id in event_ids}
        if event_ids:
            query = select(ActionRow).where(listed(ActionRow.event_id, event_ids)).order_by(ActionRow.id)
            for row in session.execute(query).scalars():
                found[row.event_id].append(action_record(row))
        return {event_id: tuple(actions) for event_id, actions in found.items()}


def _row(event_id: str, action: ActionWrite, now: datetime) -> dict[str, Any]:
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
