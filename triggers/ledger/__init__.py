"""Durable event ledger: the service's single source of truth.

Listeners acknowledge a delivery only after ``ledger.events.record_many`` has
committed it; dispatchers claim due events from ``ledger.queue`` with a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an immediate write transaction on
SQLite) so any number of replicas can share one database without doing an
event twice. See ``triggers.ledger.ledger`` for the parts and their jobs.
"""

from triggers.ledger.errors import LedgerError, LedgerRefusedError, LedgerUnavailableError
from triggers.ledger.ledger import Ledger
from triggers.ledger.records import ClaimedEvent, EventRecord, EventState, EventSummary, RecordResult

__all__ = [
    "ClaimedEvent",
    "EventRecord",
    "EventState",
    "EventSummary",
    "Ledger",
    "LedgerError",
    "LedgerRefusedError",
    "LedgerUnavailableError",
    "RecordResult",
]
