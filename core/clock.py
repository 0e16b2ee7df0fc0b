"""The time the dispatch core runs on, as a parameter.

The ledger, the coordination rows, the action chain and the dispatcher all
decide by time (what is due, when a debounce batch closes, when a lease or an
action's deadline runs out). Each takes a :data:`Clock`, so tests and
reliability scenarios move time forward explicitly instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware, in UTC."""


def utc_now() -> datetime:
    return datetime.now(UTC)
