"""Poll the MLflow registry and record every stage transition and alias move since the last poll.

OSS MLflow sends no webhook for stage transitions and does not retry failed
webhook deliveries durably, so this poll is both the source of stage events
and the reconcile path for alias webhooks that never arrived. It shares the
alias/stage table with the webhook path (:mod:`listeners.model_positions`),
which gives both the same idempotency key for the same move. The table is the
watcher's persisted cursor: a restart compares against it and re-emits
nothing. The very first poll only takes a baseline, so starting the watcher
against a long-lived registry does not replay its history.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from core.errors import PermanentError, TemporaryError
from core.logging import get_logger
from gitops.registry import ModelRegistry, ModelSnapshot
from listeners import metrics
from listeners.model_positions import PositionsBatch, positions_batch
from listeners.settings import RegistryWatcherSettings
from triggers.event import Event
from triggers.ledger import Ledger

log = get_logger(__name__)
WATCHER_CURSOR = "mlflow-registry-watcher"


class RegistryWatcher:
    def __init__(self, settings: RegistryWatcherSettings, ledger: Ledger, registry: ModelRegistry) -> None:
        self._settings = settings
        self._ledger = ledger
        self._registry = registry

    def poll_once(self) -> int:
        """Record the moves since the last poll; returns how many were new to the ledger."""
        snapshots = self._registry.snapshot(list(self._settings.models))
        baseline = self._ledger.cursors.get(WATCHER_CURSOR) is None
        with positions_batch(self._ledger) as batch:
            moves = [event for snapshot in snapshots for event in _moves(batch, snapshot)]
            results = [] if baseline else self._ledger.events.record_many(moves)
        self._ledger.cursors.put(WATCHER_CURSOR, {"polled_at": datetime.now(UTC).isoformat(), "models": len(snapshots)})
        new = sum(not r.duplicate for r in results)
        metrics.RECEIVED.labels("watcher", "mlflow").inc(new)
        metrics.DUPLICATES.labels("watcher", "mlflow").inc(len(results) - new)
        if baseline:
            log.info("registry watcher took its baseline", models=len(snapshots))
        return new

    def run(self, stop: threading.Event) -> None:
        """Poll every ``interval_seconds`` until ``stop`` is set; a failed poll is tried again next time.

        A refusal (credentials, say) is logged as an error, for an operator to fix; the watcher keeps polling so it
        resumes without a restart once the registry accepts it again.
        """
        while not stop.is_set():
            try:
                self.poll_once()
            except TemporaryError as e:
                log.warning("registry poll failed; retrying next interval", error=str(e))
            except PermanentError as e:
                log.error("registry refused the poll; fix the watcher's access, retrying next interval", error=str(e))
            stop.wait(self._settings.interval_seconds)


def _moves(batch: PositionsBatch, snapshot: ModelSnapshot) -> list[Event]:
    sightings = [batch.alias(snapshot.name, alias, version) for alias, version in snapshot.aliases.items()]
    removed = batch.known_aliases(snapshot.name) - snapshot.aliases.keys()
    sightings += [batch.alias(snapshot.name, alias, None) for alias in sorted(removed)]
    sightings += [batch.stage(snapshot.name, version, stage) for version, stage in snapshot.stages.items()]
    return [s.event for s in sightings if s.moved and s.event is not None]
