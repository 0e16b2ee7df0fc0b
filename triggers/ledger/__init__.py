"""Durable event ledger: the service's single source of truth.

Listeners acknowledge a delivery only after :meth:`Ledger.record` has
committed it; dispatchers claim due events with a lease (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, an immediate write transaction on SQLite) so any
number of replicas can share one database without doing an event twice.
"""

from triggers.ledger.store import (
    ClaimedEvent,
    EventRecord,
    EventState,
    EventSummary,
    Ledger,
    RecordResult,
)

__all__ = ["ClaimedEvent", "EventRecord", "EventState", "EventSummary", "Ledger", "RecordResult"]
