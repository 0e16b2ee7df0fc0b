"""Claims take turns between lanes: a flood on one dataset delays another lane's event by one batch, not the flood.

Every test stores events at moments of an injected clock and claims batches
as a dispatcher does; no test waits on the wall clock.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.clock import ManualClock
from tests.ledger.lost_acknowledgements import commit_acknowledgement_lost
from triggers.event import DataArrival, Event, EventType, PushData
from triggers.ledger import Ledger
from triggers.ledger.dispatch_queue import EventOutcome
from triggers.ledger.schema import EventRow

BATCH = 20


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Ledger:
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    return Ledger.open(url, clock=clock)


def notice(dataset: str, n: int) -> Event:
    return Event(
        source="s3/landing",
        type=EventType.DATA_ARRIVED,
        subject=dataset,
        data=DataArrival(dataset=dataset, key=f"{dataset}/part-{n}.parquet"),
        idempotency_key=f"{dataset}/{n}",
    )


def push(sha: str) -> Event:
    return Event(
        source="github/acme/churn-model",
        type=EventType.GIT_PUSH,
        subject="refs/heads/main",
        data=PushData(host="github", repo="acme/churn-model", ref="refs/heads/main", before="0" * 40, after=sha),
        idempotency_key=f"push/{sha}",
    )


def flood(ledger: Ledger, clock: ManualClock, dataset: str, count: int) -> list[Event]:
    """``count`` notices for one dataset, delivered 100 at a time (the per-delivery cap), a millisecond apart."""
    events = [notice(dataset, n) for n in range(count)]
    for start in range(0, count, 100):
        ledger.events.record_many(events[start : start + 100])
        clock.advance(0.001)
    return events


def claim_batch(ledger: Ledger) -> list[Event]:
    """One dispatcher pass: claim a batch and finish every event in it."""
    claimed = ledger.queue.claim_due(limit=BATCH)
    ledger.queue.finish([EventOutcome.done(c.event.id, []) for c in claimed])
    return [c.event for c in claimed]


def test_an_event_stored_after_a_flood_is_claimed_in_the_next_batch(ledger: Ledger, clock: ManualClock) -> None:
    flooded = flood(ledger, clock, "lake/clicks", 2_000)
    clock.advance(1)
    other = push("a" * 40)
    ledger.events.record(other)
    first = claim_batch(ledger)
    assert other.id in {e.id for e in first}
    assert len(first) == BATCH
    # in arrival order it would have come after every flooded event: 2,000 / 20 = 100 batches later
    received = received_at(ledger, [*flooded, other])
    assert max(received[e.id] for e in flooded) < received[other.id]


def test_an_event_stored_while_a_flood_is_being_dispatched_waits_one_batch(ledger: Ledger, clock: ManualClock) -> None:
    flood(ledger, clock, "lake/clicks", 1_000)
    for _ in range(10):
        claim_batch(ledger)
        clock.advance(0.05)
    other = push("b" * 40)
    ledger.events.record(other)
    assert other.id in {e.id for e in claim_batch(ledger)}


def test_two_flooded_lanes_take_turns_in_every_batch(ledger: Ledger, clock: ManualClock) -> None:
    flood(ledger, clock, "lake/clicks", 600)
    flood(ledger, clock, "lake/orders", 600)
    for _ in range(20):
        lanes = Counter(e.subject for e in claim_batch(ledger))
        assert lanes == {"lake/clicks": BATCH // 2, "lake/orders": BATCH // 2}


def test_a_deferred_event_once_due_is_claimed_in_the_next_batch_ahead_of_a_flood_stored_meanwhile(
    ledger: Ledger, clock: ManualClock
) -> None:
    waiting = notice("lake/clicks", 0)
    ledger.events.record(waiting)
    [claimed] = ledger.queue.claim_due(limit=BATCH)
    ledger.queue.finish([EventOutcome.deferred(claimed, clock.now + timedelta(seconds=5))])
    flood(ledger, clock, "lake/orders", 200)
    clock.advance(5)
    assert waiting.id in {e.id for e in claim_batch(ledger)}  # it keeps its round, 0


def test_an_ingest_run_again_after_a_lost_acknowledgement_moves_its_lane_once(
    ledger: Ledger, clock: ManualClock
) -> None:
    with commit_acknowledgement_lost() as lost:
        ledger.events.record_many([notice("lake/clicks", n) for n in range(10)])
    assert lost == ["COMMIT"]
    after = notice("lake/clicks", 10)
    ledger.events.record(after)
    assert rounds(ledger, [after]) == [10]


def received_at(ledger: Ledger, events: list[Event]) -> dict[str, datetime]:
    with ledger.database.engine.connect() as conn:
        query = select(EventRow.id, EventRow.received_at).where(EventRow.id.in_([e.id for e in events]))
        return dict(conn.execute(query).tuples().all())


def rounds(ledger: Ledger, events: list[Event]) -> list[int]:
    with ledger.database.engine.connect() as conn:
        stored = dict(
            conn.execute(select(EventRow.id, EventRow.fair_round).where(EventRow.id.in_([e.id for e in events])))
            .tuples()
            .all()
        )
    return [stored[e.id] for e in events]
