"""Group commit: writes that queue up for one branch share one fetch and one push.

A promotion costs a fetch, a commit and a push, and the branch lock lets only
one writer at a time do them. Twenty promotions arriving together would wait
for twenty such rounds one after another, and a lower version that lost the
race for the lock to a higher one would then be refused as stale, although
both were asked for at the same time.

So a writer does not take the lock for its own write only. It puts the write
into the branch's queue and takes the lock; whoever gets the lock first takes
*every* queued write and hands the whole batch to one flush (the writer's
fetch, commits in order, single push). The others find their write done when
the lock comes to them and just return its outcome. Each caller still gets
its own outcome: a value, or the exception its write (or the whole batch)
ended in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from core.errors import TemporaryError
from gitops.locking import RepoBranchLock

ItemT = TypeVar("ItemT")
OutcomeT = TypeVar("OutcomeT")

# What a flush returns per item, in the order of the items: the item's outcome or the error it ended in.
Flush = Callable[[list[ItemT]], list[OutcomeT | Exception]]


class Ticket(Generic[ItemT, OutcomeT]):
    """One queued write; :meth:`result` waits for it (flushing the queue when its turn comes)."""

    def __init__(self, item: ItemT, group: GroupCommit[ItemT, OutcomeT]) -> None:
        self.item = item
        self._group = group
        self._settled = threading.Event()
        self._outcome: OutcomeT | Exception | None = None

    @property
    def settled(self) -> bool:
        return self._settled.is_set()

    def settle(self, outcome: OutcomeT | Exception) -> None:
        self._outcome = outcome
        self._settled.set()

    def wait_settled(self) -> None:
        self._settled.wait()

    def result(self) -> OutcomeT:
        """The write's outcome; raises the error it ended in."""
        self._group.complete(self)
        outcome = self._outcome
        if isinstance(outcome, Exception):
            raise outcome
        return cast(OutcomeT, outcome)


class GroupCommit(Generic[ItemT, OutcomeT]):
    """The queue of writes to one repo branch, flushed in batches by whoever holds the branch lock."""

    def __init__(self, lock: RepoBranchLock, flush: Flush[ItemT, OutcomeT]) -> None:
        self._lock = lock
        self._flush = flush
        self._guard = threading.Lock()
        self._pending: list[Ticket[ItemT, OutcomeT]] = []

    def submit(self, item: ItemT) -> Ticket[ItemT, OutcomeT]:
        """Queue ``item``; the returned ticket's :meth:`Ticket.result` waits for it to be written."""
        ticket = Ticket(item, self)
        with self._guard:
            self._pending.append(ticket)
        return ticket

    def complete(self, ticket: Ticket[ItemT, OutcomeT]) -> None:
        """Return once ``ticket`` is settled, flushing the queue whenever this thread holds the lock first."""
        while not ticket.settled:
            try:
                with self._lock.hold():
                    if not ticket.settled:
                        self._flush_pending()
            except TemporaryError:
                if self._withdraw(ticket):
                    raise
                ticket.wait_settled()  # the lock holder took it into its batch and settles it when done

    def _withdraw(self, ticket: Ticket[ItemT, OutcomeT]) -> bool:
        """Take a still-queued ticket out of the queue; False when a flush already took it."""
        with self._guard:
            if ticket in self._pending:
                self._pending.remove(ticket)
                return True
            return False

    def _flush_pending(self) -> None:
        with self._guard:
            batch, self._pending = self._pending, []
        try:
            outcomes = self._flush([ticket.item for ticket in batch])
        except Exception as e:  # the whole batch failed: every caller in it gets the error
            outcomes = [e] * len(batch)
        for ticket, outcome in zip(batch, outcomes, strict=True):
            ticket.settle(outcome)
