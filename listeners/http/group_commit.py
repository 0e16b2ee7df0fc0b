"""Many concurrent webhook requests, one ledger transaction: group commit.

Each acknowledgement waits for a durable ledger write, and on SQLite every
write transaction pays one fsync and holds the single write lock. Writing
each request on its own would cap the app at one fsync per request. Instead,
requests hand their admitted events to one writer thread that takes whatever
has queued up meanwhile and writes it with a single ``record_many``; every
request still gets its answer only after that transaction commits, so the
acknowledgement promise is unchanged while the fsync is shared.

Crossing threads is the expensive part of this in CPython: each wake-up of
the event loop from another thread is a system call and a fight for the GIL.
So the answers of a whole group go back to the loop in one call, which then
resolves every request's future itself, instead of one cross-thread wake-up
per request.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from listeners.intake import Intake
from triggers.event import Event
from triggers.ledger import RecordResult

MAX_GROUP = 256


@dataclass
class _Pending:
    source: str
    events: Sequence[Event]
    answer: asyncio.Future[list[RecordResult]]


_Outcome = tuple[_Pending, list[RecordResult] | Exception]
"""A request and its answer: what the ledger recorded for it, or the error that failed its group."""


class GroupCommitter:
    def __init__(self, intake: Intake, *, max_group: int = MAX_GROUP) -> None:
        self._intake = intake
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def record(self, source: str, events: Sequence[Event]) -> list[RecordResult]:
        """Queue ``events`` for the next group and wait until that group is committed."""
        self._ensure_started()
        pending = _Pending(source, events, asyncio.get_running_loop().create_future())
        self._queue.put(pending)
        return await pending.answer

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_groups, name="ledger-group-commit", daemon=True)
                self._thread.start()

    def _write_groups(self) -> None:
        while (first := self._queue.get()) is not None:
            group = [first]
            stopping = False
            while len(group) < self._max_group:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    stopping = True
                    break
                group.append(following)
            self._commit(group)
            if stopping:
                return

    def _commit(self, group: list[_Pending]) -> None:
        outcomes: list[_Outcome]
        try:
            answers = self._intake.record_groups([(p.source, p.events) for p in group])
        except Exception as e:  # the ledger failed: every request of the group gets the same error (a 503)
            outcomes = [(pending, e) for pending in group]
        else:
            outcomes = list(zip(group, answers, strict=True))
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].answer.get_loop(), []).append(outcome)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, settled)
            except RuntimeError:  # that loop has closed: nobody is waiting for these answers any more
                continue


def _resolve(outcomes: list[_Outcome]) -> None:
    """On the requests' event loop: hand each request its answer (a request whose client left is skipped)."""
    for pending, answer in outcomes:
        if pending.answer.done():
            continue
        if isinstance(answer, Exception):
            pending.answer.set_exception(answer)
        else:
            pending.answer.set_result(answer)
