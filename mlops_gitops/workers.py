"""Run the service's background loops beside the web server, and stop them together.

The Kafka consumer, the registry watcher and the dispatcher each expose
``run(stop)``. They run in daemon threads; a loop that dies unexpectedly is
logged and restarted after a pause, so one bad moment of a dependency does not
leave the service half-alive behind a healthy ``/healthz``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from core.logging import get_logger

log = get_logger(__name__)
RESTART_PAUSE_SECONDS = 5.0


@dataclass
class Workers:
    stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=self._supervise, args=(name, loop), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _supervise(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        while not self.stop.is_set():
            try:
                loop(self.stop)
            except Exception:
                log.exception("background loop crashed; restarting", worker=name)
                self.stop.wait(RESTART_PAUSE_SECONDS)
            else:
                return

    def shutdown(self, timeout: float = 30.0) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout)
