"""Opens the ledger database and hands out its parts, each with one job.

A caller takes the part it needs: listeners the :class:`EventStore` (and the
watcher the :class:`Cursors`), dispatchers the :class:`DispatchQueue` and the
:class:`ActionLog`, the status API and the ``events`` commands the
:class:`ReadModel` (and the queue, to replay). They share one
:class:`LedgerDatabase`: one engine, one clock, one due-event signal.
"""

from __future__ import annotations

from core.clock import Clock, utc_now
from triggers.ledger.action_log import ActionLog
from triggers.ledger.cursors import Cursors
from triggers.ledger.database import LedgerDatabase, create_ledger_engine, translated_errors
from triggers.ledger.dispatch_queue import DispatchQueue
from triggers.ledger.event_store import EventStore
from triggers.ledger.migrate import upgrade
from triggers.ledger.read_model import ReadModel


class Ledger:
    """The ledger's parts over one database."""

    def __init__(self, database: LedgerDatabase) -> None:
        self.database = database
        self.events = EventStore(database)
        self.actions = ActionLog(database)
        self.queue = DispatchQueue(database, self.actions)
        self.cursors = Cursors(database)
        self.reads = ReadModel(database)

    @classmethod
    def open(
        cls, url: str, *, migrate: bool = True, sqlite_synchronous: str = "FULL", clock: Clock = utc_now
    ) -> Ledger:
        """Connect, check the database answers, and (with ``migrate``) bring the schema to head.

        Only the service migrates; a command that must not change the schema passes ``migrate=False`` and checks
        ``reads.schema_revision()`` itself (see ``triggers.ledger.migrate.check_schema``). A database that cannot be
        reached raises ``LedgerUnavailableError``, one that refuses the schema ``LedgerRefusedError``.
        """
        database = LedgerDatabase(create_ledger_engine(url, sqlite_synchronous), clock)
        if migrate:
            translated_errors(upgrade)(database.engine)
        database.ping()
        return cls(database)

    def close(self) -> None:
        self.database.close()
