"""The shape every event source has, so one registry can serve HTTP and Kafka.

A source is two pure functions: ``verify`` proves the sender knows one of the
configured secrets, and ``parse`` turns the raw delivery into events; a third,
``check_headers``, is the part of ``verify`` that needs no body. Neither
touches the ledger or the network, so both are trivially testable and the
webhook app and the Kafka loop share them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from listeners.rejections import MalformedError
from listeners.sources.keyring import Credential, Keyring
from triggers.event import Event

Headers = Mapping[str, str]
"""Header names are lower-case; Kafka ``ce_*`` headers arrive renamed to ``ce-*``."""

JSON_TYPES = frozenset({"application/json"})


@dataclass(frozen=True)
class Delivery:
    """One inbound message, whatever carried it."""

    source: str
    headers: Headers
    body: bytes
    fallback_key: str
    """Idempotency key to use when the payload carries no id of its own (Kafka: topic/partition/offset)."""


@dataclass(frozen=True)
class Ignored:
    """A valid delivery that records nothing (a ping, an event kind no rule can use)."""

    reason: str


ParseResult = Sequence[Event] | Ignored


@dataclass(frozen=True)
class Source:
    name: str
    verify: Callable[[Headers, bytes, Keyring], Credential]
    parse: Callable[[Delivery], ParseResult]
    content_types: frozenset[str] = JSON_TYPES
    scope: Callable[[Event], str | None] = lambda _event: None
    """Which per-repository secret group an event belongs to (git hosts: the repository)."""
    check_headers: Callable[[Headers], object] = lambda _headers: None
    """Refuse (401) a missing or malformed signature header without the body, so such a body is never read."""


def header(headers: Headers, name: str) -> str:
    """A required header, or a 400 that names it."""
    value = headers.get(name)
    if not value:
        raise MalformedError(f"header {name!r} is missing")
    return value
