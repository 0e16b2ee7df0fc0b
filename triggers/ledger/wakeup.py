"""Wake the dispatchers when an event is stored, instead of leaving it to their next poll.

In one process, the ledger signals a :class:`Wakeup` after each ingest commit
that stored something new. On PostgreSQL the ingest transaction also sends a
``NOTIFY``, which the server delivers on commit to every listening
connection: a :class:`PostgresListener` per dispatcher relays it into the same
signal, so an event stored by any replica or consumer process wakes them all.
Dispatchers still look every ``poll_interval_seconds`` for events that fell
due on their own (deferred, backing off), and on SQLite for events that other
processes (extra Kafka consumers) stored.
"""

from __future__ import annotations

import threading

import psycopg
from sqlalchemy import Engine

from core.logging import get_logger

log = get_logger(__name__)

CHANNEL = "mlops_gitops_events"
"""The PostgreSQL notification channel of stored events."""

_LISTEN_POLL_SECONDS = 1.0
"""How often the listener looks up from waiting to see whether it should stop."""


class Wakeup:
    """A signal that something became due; many may notify, the dispatcher waits."""

    def __init__(self) -> None:
        self._signal = threading.Event()

    def notify(self) -> None:
        self._signal.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a notification; True if one came. Either way the signal is reset."""
        fired = self._signal.wait(timeout)
        self._signal.clear()
        return fired


class PostgresListener:
    """Relays the ledger's ``NOTIFY`` to a :class:`Wakeup`, on a connection of its own, until stopped."""

    def __init__(self, engine: Engine, wakeup: Wakeup) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._wakeup = wakeup

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wakeup.notify()  # whatever was stored while nobody listened
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=_LISTEN_POLL_SECONDS, stop_after=1):
                            self._wakeup.notify()
            except psycopg.Error as e:  # the server restarted: polling covers the gap, listen again shortly
                log.warning("dispatcher.listen_failed", error=str(e))
                stop.wait(_LISTEN_POLL_SECONDS)
