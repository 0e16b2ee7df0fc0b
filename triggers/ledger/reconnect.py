"""Ride out a PostgreSQL restart or fail-over inside each ledger operation.

A restart closes every pooled connection and refuses new ones for a few
seconds. Without a retry, each ledger call in that window fails: webhooks get
a 503, and an event whose workflow was just submitted cannot be marked and
waits out its whole lease before another dispatcher takes it. Every ledger
operation is one short transaction that is safe to run again, even when its
commit went through and only the answer was lost: inserts are ``ON CONFLICT``,
updates set absolute values (a deferral sets the attempt count the claim
started from, a replay sets its generation only if the event has not reached
it, a fair-order round only ever rises), and what counts is guarded by a token
(redeliveries by their ingest batch's, a rate window by the action keys it
counted). So a failed one is simply retried on a fresh connection for a
bounded time; an outage longer than that still surfaces, as a
``LedgerUnavailableError`` (see ``triggers.ledger.database.operation``).

Only PostgreSQL is retried: there ``OperationalError`` means the server or the
connection went away, while SQLite's (a locked or malformed file) would not
get better by waiting.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_delay, wait_exponential

from core.logging import get_logger

log = get_logger(__name__)

RECONNECT_WINDOW_SECONDS = 20.0
"""How long one operation keeps trying: a ``pg_ctl restart`` takes a few seconds, a real outage far longer."""


def _server_went_away(error: BaseException) -> bool:
    return isinstance(error, OperationalError) and not isinstance(error.orig, sqlite3.Error)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    reason = error.orig if isinstance(error, OperationalError) else error  # the driver's message, not the statement
    log.warning("ledger.database_unreachable_retrying", attempt=state.attempt_number, error=str(reason).strip())


retried_while_unreachable = retry(
    retry=retry_if_exception(_server_went_away),
    stop=stop_after_delay(RECONNECT_WINDOW_SECONDS),
    wait=wait_exponential(multiplier=0.1, max=2.0),
    before_sleep=_log_retry,
    reraise=True,
)
"""Decorates a ledger operation (one whole transaction) to run again while the database server cannot be reached."""
