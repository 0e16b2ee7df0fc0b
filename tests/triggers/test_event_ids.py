"""Event ids are canonical time-ordered UUIDs: other systems parse them, indexes append them, and none repeats."""

from __future__ import annotations

import os
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


def test_ids_are_canonical_version_7_uuids_stamped_with_their_creation_time() -> None:
    for _ in range(2_000):
        event = new_event()
        parsed = uuid.UUID(event.id)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == event.id, "the id must be the UUID's canonical lower-case text"
        stamped_ms = parsed.int >> 80
        assert abs(stamped_ms - event.time.timestamp() * 1000) < 1_000


def test_ids_grow_with_time_so_the_ledger_index_appends_them() -> None:
    ids = [new_event().id for _ in range(5_000)]
    milliseconds = [uuid.UUID(i).int >> 80 for i in ids]
    assert milliseconds == sorted(milliseconds)


def test_ids_do_not_repeat() -> None:
    ids = {new_event().id for _ in range(20_000)}
    assert len(ids) == 20_000


def test_a_forked_child_draws_ids_of_its_own() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe and exits at once
        os.write(write_end, "\n".join(new_event().id for _ in range(200)).encode())
        os._exit(0)
    os.close(write_end)
    parent_ids = {new_event().id for _ in range(200)}
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        child_ids = set(pipe.read().decode().split("\n"))
    assert len(child_ids) == 200
    assert not parent_ids & child_ids
