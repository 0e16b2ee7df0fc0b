"""How many large request bodies are read at once.

A body is held in memory while it is read, hashed and parsed. Each one is
bounded by its source's limit, but a burst of many large posts (hostile or
not) would hold all of them at once. Bodies over ``INLINE_BODY_BYTES``, or
of unknown size (chunked), take one of a few slots for as long as they are
handled; a request finding every slot taken waits for one, and after
``wait_seconds`` is answered 503 with ``Retry-After`` so its sender tries
again. Small bodies, which are nearly every delivery, never wait here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.errors import TemporaryError

INLINE_BODY_BYTES = 64 * 1024
"""Bodies up to this size are small: no slot, and admitted on the event loop."""


class BusyError(TemporaryError):
    """Every large-body slot stayed taken while this request waited."""


class LargeBodySlots:
    def __init__(self, slots: int, *, wait_seconds: float = 30.0) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._wait_seconds = wait_seconds

    @asynccontextmanager
    async def held_for(self, declared_length: str | None) -> AsyncIterator[None]:
        """Hold a slot while the body is handled, unless its declared length says it is small."""
        if declared_length is not None and declared_length.isdigit() and int(declared_length) <= INLINE_BODY_BYTES:
            yield
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait_seconds)
        except TimeoutError:
            raise BusyError("too many large bodies are being read at once; retry later") from None
        try:
            yield
        finally:
            self._slots.release()
