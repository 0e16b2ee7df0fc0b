"""Turn Kafka records into deliveries of the ``data`` source, and keep the ones that cannot be read.

Kafka headers are bytes and CloudEvents binary mode spells its attributes
``ce_*`` on Kafka but ``ce-*`` on HTTP; renaming them here lets the one data
parser read both. A record's fallback idempotency key is its
topic/partition/offset, used only when the payload carries no id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from listeners.sources import Delivery
from triggers.event import Event

DATA_SOURCE = "data"
KAFKA_CE_PREFIX = "ce_"


def record_key(record: Any) -> str:
    return f"kafka:{record.topic}:{record.partition}:{record.offset}"


def header_map(raw_headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    headers = {}
    for name, value in raw_headers or ():
        lowered = name.lower()
        if lowered.startswith(KAFKA_CE_PREFIX):
            lowered = "ce-" + lowered[len(KAFKA_CE_PREFIX) :]
        headers[lowered] = (value or b"").decode("utf-8", "replace")
    return headers


def delivery_of(record: Any) -> Delivery:
    return Delivery(DATA_SOURCE, header_map(record.headers), record.value or b"", record_key(record))


@dataclass
class PollOutcome:
    """What one poll's records became: events to record and dead letters to keep."""

    events: list[Event] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def dead(self, record: Any, reason: str) -> None:
        self.dead_letters.append(
            {
                "origin": "kafka",
                "origin_key": record_key(record),
                "reason": reason,
                "payload": record.value or b"",
                "headers": header_map(record.headers),
            }
        )
