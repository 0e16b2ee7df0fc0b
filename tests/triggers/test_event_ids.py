"""Event ids are canonical random UUIDs: other systems parse them as such, and no two events share one."""

from __future__ import annotations

import uuid

from triggers.event import DataArrival, Event, EventType


def new_event() -> Event:
    return Event(
        source="data",
        type=EventType.DATA_ARRIVED,
        subject="lake/churn",
        data=DataArrival(dataset="lake/churn"),
        idempotency_key="k",
    )


def test_ids_are_canonical_version_4_uuids() -> None:
    for _ in range(2_000):
        event_id = new_event().id
        parsed = uuid.UUID(event_id)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == event_id, "the id must be the UUID's canonical lower-case text"


def test_ids_do_not_repeat() -> None:
    ids = {new_event().id for _ in range(20_000)}
    assert len(ids) == 20_000
