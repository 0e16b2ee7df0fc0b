"""How long to wait before trying again after a temporary failure."""

from __future__ import annotations

import random
from datetime import timedelta

from triggers.settings import DispatcherSettings


def backoff_delay(attempt: int, settings: DispatcherSettings) -> timedelta:
    """Exponential backoff with "equal jitter": half the step fixed, half random, so retries spread out."""
    step = min(settings.backoff_max_seconds, settings.backoff_initial_seconds * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=step / 2 + random.uniform(0, step / 2))  # noqa: S311 - jitter, not security
