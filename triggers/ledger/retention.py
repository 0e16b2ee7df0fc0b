"""Forget what is long finished, so the ledger stays the size of its recent past.

Finished events (done, ignored, dead-lettered) with their actions and debounce
memberships, closed debounce batches and dead letters are deleted once they
are ``retention`` old. The retention is never under three days: an event's
row is what makes a redelivery of its idempotency key a duplicate, and
senders retry for up to that long (GitHub redeliveries, Kafka replays after an
outage). Events still going are never touched, whatever their age.

A lane of the fair dispatch order (``triggers.ledger.fair_order``) is deleted
once its next round is no later than the round being served: a new event of
that lane would take the round being served either way.

Cursors are kept: they hold live state (the watcher's baseline, where every
MLflow alias points), and forgetting an unchanged model's table would make the
next poll announce all its moves again.

Deletes run in chunks of short transactions, so a first prune of a large
ledger does not hold SQLite's write lock (and the webhooks waiting on it) for
long. Each chunk is a ledger operation (``triggers.ledger.database``): a
delete run again after a lost commit acknowledgement finds nothing more to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Delete, Select, delete, select

from core.clock import Clock
from core.logging import get_logger
from triggers.ledger.database import LedgerDatabase, operation
from triggers.ledger.records import TERMINAL
from triggers.ledger.schema import (
    ActionRow,
    BatchMemberRow,
    DeadLetterRow,
    DebounceBatchRow,
    DispatchLaneRow,
    DispatchProgressRow,
    EventRow,
)

log = get_logger(__name__)

MINIMUM_RETENTION = timedelta(days=3)
_CHUNK = 500
_SERVED_ROUND = select(DispatchProgressRow.served_round).scalar_subquery()
"""The round being served; a lane is forgotten only if it is still no later when it is deleted."""


@dataclass(frozen=True)
class Pruned:
    events: int
    dead_letters: int
    debounce_batches: int
    lanes: int


class Pruner:
    def __init__(self, database: LedgerDatabase, retention: timedelta, clock: Clock | None = None) -> None:
        if retention < MINIMUM_RETENTION:
            raise ValueError(f"retention must keep idempotency keys at least {MINIMUM_RETENTION.days} days")
        self._db = database
        self._retention = retention
        self._clock = clock or database.clock

    def prune_once(self) -> Pruned:
        cutoff = self._clock() - self._retention
        events = self._chunks(
            select(EventRow.id)
            .where(EventRow.state.in_([s.value for s in TERMINAL]), EventRow.updated_at < cutoff)
            .limit(_CHUNK),
            self._delete_events,
        )
        batches = self._chunks(
            select(DebounceBatchRow.id)
            .where(DebounceBatchRow.closed_at.is_not(None), DebounceBatchRow.closed_at < cutoff)
            .limit(_CHUNK),
            self._delete_batches,
        )
        letters = self._chunks(
            select(DeadLetterRow.id).where(DeadLetterRow.created_at < cutoff).limit(_CHUNK),
            lambda ids: [delete(DeadLetterRow).where(DeadLetterRow.id.in_(ids))],
        )
        lanes = self._chunks(
            select(DispatchLaneRow.lane).where(DispatchLaneRow.next_round <= _SERVED_ROUND).limit(_CHUNK),
            lambda ids: [
                delete(DispatchLaneRow).where(
                    DispatchLaneRow.lane.in_(ids), DispatchLaneRow.next_round <= _SERVED_ROUND
                )
            ],
        )
        pruned = Pruned(events=events, dead_letters=letters, debounce_batches=batches, lanes=lanes)
        if events or letters or batches or lanes:
            log.info("ledger.pruned", before=cutoff.isoformat(), **vars(pruned))
        return pruned

    def run(self, stop: threading.Event, interval_seconds: float = 3600.0) -> None:
        """Prune now and then every ``interval_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            self.prune_once()
            stop.wait(interval_seconds)

    def _chunks(self, chosen: Select[Any], deletes: Callable[[list[Any]], list[Delete]]) -> int:
        """Delete what ``chosen`` selects, a chunk per transaction; return how many rows it selected in all."""
        total = 0
        while deleted := self._delete_chunk(chosen, deletes):
            total += deleted
        return total

    @operation
    def _delete_chunk(self, chosen: Select[Any], deletes: Callable[[list[Any]], list[Delete]]) -> int:
        with self._db.transaction() as s:
            ids = list(s.execute(chosen).scalars())
            for statement in deletes(ids) if ids else ():
                s.execute(statement)
        return len(ids)

    @staticmethod
    def _delete_events(ids: list[Any]) -> list[Delete]:
        return [
            delete(ActionRow).where(ActionRow.event_id.in_(ids)),
            delete(BatchMemberRow).where(BatchMemberRow.event_id.in_(ids)),
            delete(EventRow).where(EventRow.id.in_(ids)),
        ]

    @staticmethod
    def _delete_batches(ids: list[Any]) -> list[Delete]:
        return [
            delete(BatchMemberRow).where(BatchMemberRow.batch_id.in_(ids)),
            delete(DebounceBatchRow).where(DebounceBatchRow.id.in_(ids)),
        ]
