"""The ledger's own errors, so no caller has to know it is built on SQLAlchemy.

Every public ledger operation turns the database library's exceptions into
one of these two (see ``triggers.ledger.database.operation``). Both are
kinds of the service's error taxonomy (``core.errors``), so a caller handles
them the way it handles any other failure:

* :class:`LedgerUnavailableError` is a ``TemporaryError``: the database could
  not be reached, or stayed busy, even after the operation was retried for
  the reconnect window. Its ``delay`` says when to try again; the webhook app
  passes it on as ``Retry-After``.
* :class:`LedgerRefusedError` is a ``PermanentError``: the database answered,
  but refused the statement (a constraint, a value that does not fit). Running
  it again would be refused again.
"""

from __future__ import annotations

from core.errors import MlopsGitopsError, PermanentError, TemporaryError

UNAVAILABLE_RETRY_SECONDS = 5.0
"""When a caller should come back after the ledger was unreachable for a whole reconnect window."""


class LedgerError(MlopsGitopsError):
    """A ledger operation failed in the database; nothing of it was stored."""


class LedgerUnavailableError(LedgerError, TemporaryError):
    """The ledger database cannot be reached (or is locked) right now; try again after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float | None = UNAVAILABLE_RETRY_SECONDS) -> None:
        super().__init__(message, delay=delay)


class LedgerRefusedError(LedgerError, PermanentError):
    """The ledger database refused the operation; trying it again cannot help."""
