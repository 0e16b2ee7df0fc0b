"""One way to wrap a registry change in an ``Event``, whichever path saw it first."""

from __future__ import annotations

from triggers.event import Event, EventType, ModelChange


def model_event(kind: EventType, change: ModelChange, key: str) -> Event:
    return Event(
        source=f"{change.registry}/{change.model_name}",
        type=kind,
        subject=change.model_name,
        data=change,
        idempotency_key=key,
    )
