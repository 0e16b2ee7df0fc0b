"""Where every MLflow alias points and which stage each version is in, as last seen.

MLflow OSS alias webhooks name only the new version, stage transitions send
no webhook at all, and a failed delivery is not retried durably. This table
(one ledger cursor per model) supplies the previous version and numbers each
move. The webhook path and the registry watcher both go through it, so the
same move gets the same idempotency key
(``mlflow:alias:<model>:<alias>:<move>:<version>``) whichever path saw it,
and the second sighting is recorded as a duplicate: the watcher is the
reconcile path for missed webhooks. The move number keeps a later move back to
an earlier version (a rollback) distinct from the first move to it.

Callers record the events of a batch first and save the table after, so a
crash in between re-derives the same keys on the next sighting and loses
nothing. Every replica runs the webhook app and the watcher, so a batch holds
a lock that lives with the ledger database (``triggers.ledger.locks``) from
reading the table to saving it: no batch derives moves from a table another
replica is about to overwrite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from listeners.sources.model_event import model_event
from triggers.event import Event, EventType, ModelChange
from triggers.ledger import Ledger
from triggers.ledger.locks import held_across_processes

CURSOR_PREFIX = "mlflow-model:"
NO_STAGE = "None"
_ALIAS_TYPES = (EventType.MODEL_ALIAS_CHANGED, EventType.MODEL_ALIAS_DELETED)


@dataclass(frozen=True)
class Sighting:
    event: Event | None
    """The event describing the current position; ``None`` when there is nothing to report.

    (A version seen for the first time in no stage has made no move yet.)
    """
    moved: bool
    """Whether this sighting is news to the table."""


class PositionsBatch:
    """Reads and updates the table for one batch of sightings; the owner saves it after recording."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._tables: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()

    def known_aliases(self, model: str) -> set[str]:
        return {alias for alias, position in self._table(model)["aliases"].items() if position["version"] is not None}

    def alias(self, model: str, alias: str, version: str | None) -> Sighting:
        positions = self._table(model)["aliases"]
        current = positions.get(alias)
        moved = current is None or current["version"] != version
        if moved:
            current = {
                "version": version,
                "previous": current["version"] if current else None,
                "move": (current["move"] if current else 0) + 1,
            }
            positions[alias] = current
            self._dirty.add(model)
        assert current is not None
        change = ModelChange(model_name=model, alias=alias, version=version, previous_version=current["previous"])
        kind = EventType.MODEL_ALIAS_CHANGED if version is not None else EventType.MODEL_ALIAS_DELETED
        key = f"mlflow:alias:{model}:{alias}:{current['move']}:{version or 'deleted'}"
        return Sighting(model_event(kind, change, key), moved)

    def stage(self, model: str, version: str, stage: str) -> Sighting:
        positions = self._table(model)["stages"]
        current = positions.get(version)
        if current is None and stage == NO_STAGE:
            positions[version] = {"stage": stage, "previous": None, "move": 0}
            self._dirty.add(model)
            return Sighting(None, moved=False)
        moved = current is None or current["stage"] != stage
        if moved:
            current = {
                "stage": stage,
                "previous": current["stage"] if current else NO_STAGE,
                "move": (current["move"] if current else 0) + 1,
            }
            positions[version] = current
            self._dirty.add(model)
        assert current is not None
        if current["move"] == 0:
            return Sighting(None, moved=False)
        change = ModelChange(model_name=model, version=version, from_stage=current["previous"], to_stage=stage)
        key = f"mlflow:stage:{model}:{version}:{current['move']}:{stage}"
        return Sighting(model_event(EventType.MODEL_STAGE_CHANGED, change, key), moved)

    def settle(self, event: Event) -> Event:
        """An MLflow alias webhook event, re-keyed and given its previous version; any other event unchanged."""
        if not needs_settling(event):
            return event
        assert isinstance(event.data, ModelChange) and event.data.alias is not None
        sighting = self.alias(event.data.model_name, event.data.alias, event.data.version)
        assert sighting.event is not None
        return sighting.event

    def save(self) -> None:
        for model in sorted(self._dirty):
            self._ledger.cursors.put(CURSOR_PREFIX + model, self._tables[model])
        self._dirty.clear()

    def _table(self, model: str) -> dict[str, Any]:
        if model not in self._tables:
            stored = self._ledger.cursors.get(CURSOR_PREFIX + model)
            self._tables[model] = stored if stored is not None else {"aliases": {}, "stages": {}}
        return self._tables[model]


def needs_settling(event: Event) -> bool:
    return isinstance(event.data, ModelChange) and event.data.registry == "mlflow" and event.type in _ALIAS_TYPES


_PROCESS_LOCK = threading.Lock()
_TABLE_LOCK = "mlflow-model-positions"


@contextmanager
def positions_batch(ledger: Ledger) -> Iterator[PositionsBatch]:
    """One batch at a time across every process sharing the ledger (replicas each run the webhook app and the
    watcher), so no batch derives moves from a table another is about to save.

    The table is saved when the block exits cleanly, i.e. after the caller recorded the batch's events.
    """
    with _PROCESS_LOCK, held_across_processes(ledger.database.engine, _TABLE_LOCK):
        batch = PositionsBatch(ledger)
        yield batch
        batch.save()


def any_need_settling(events: Sequence[Event]) -> bool:
    return any(needs_settling(e) for e in events)
