"""Commits whose answer never reaches the caller, as when PostgreSQL restarts between the commit and its reply."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session


@contextmanager
def commit_acknowledgement_lost(times: int = 1) -> Iterator[list[str]]:
    """The next ``times`` ledger commits go through, but their caller gets the error of a connection dropped before
    the server's answer arrived (as in a PostgreSQL restart); yields the statement of each lost acknowledgement."""
    lost: list[str] = []

    def drop_the_answer(session: Session) -> None:
        if len(lost) < times:
            lost.append("COMMIT")
            raise OperationalError("COMMIT", None, ConnectionResetError("server closed the connection unexpectedly"))

    event.listen(Session, "after_commit", drop_the_answer)
    try:
        yield lost
    finally:
        event.remove(Session, "after_commit", drop_the_answer)
