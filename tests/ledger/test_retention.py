"""Pruning forgets long-finished events, closed batches and dead letters, never anything still going."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.clock import ManualClock
from triggers.event import DataArrival, Event, EventType
from triggers.ledger import EventState, Ledger
from triggers.ledger.action_log import ActionWrite
from triggers.ledger.dispatch_queue import EventOutcome
from triggers.ledger.retention import Pruned, Pruner
from triggers.ledger.schema import EventRow


def arrival(key: str, dataset: str = "landing/churn") -> Event:
    return Event(
        source="s3/landing",
        type=EventType.DATA_ARRIVED,
        subject=dataset,
        data=DataArrival(dataset=dataset),
        idempotency_key=key,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Ledger:
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    return Ledger.open(url, clock=clock)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_finished_events_and_dead_letters_past_the_retention_are_deleted_and_the_rest_kept(
    ledger: Ledger, clock: ManualClock
) -> None:
    done, dead, waiting = (ledger.events.record(arrival(k)).event_id for k in ("done", "dead", "waiting"))
    claimed = {c.event.id: c for c in ledger.queue.claim_due()}
    ledger.actions.record(done, ActionWrite("etl:done", "workflow", "", "", "succeeded", {}))
    ledger.queue.finish([EventOutcome.done(done, ["etl"])])
    ledger.queue.finish([EventOutcome.dead(dead, "the journal refuses this line")])
    ledger.queue.finish(
        [EventOutcome.deferred(claimed[waiting], clock.now + timedelta(days=60))]
    )  # a debounce or a run still going
    ledger.events.dead_letter(origin="kafka", origin_key="t/0/1", reason="not JSON", payload=b"\xff")
    ledger.cursors.put("mlflow-model:churn", {"aliases": {}, "stages": {}})
    pruner = Pruner(ledger.database, timedelta(days=30))

    clock.advance(timedelta(days=29).total_seconds())
    recent = ledger.events.record(arrival("recent")).event_id
    assert pruner.prune_once() == Pruned(events=0, dead_letters=0, debounce_batches=0, lanes=0)
    clock.advance(timedelta(days=2).total_seconds())
    assert pruner.prune_once() == Pruned(events=2, dead_letters=1, debounce_batches=0, lanes=0)

    assert ledger.reads.get(done) is None and ledger.reads.get(dead) is None and ledger.reads.dead_letters() == []
    assert ledger.actions.get("etl:done") is None
    kept = ledger.reads.get(waiting)
    assert kept is not None and kept.state is EventState.RECEIVED
    assert ledger.reads.get(recent) is not None
    assert ledger.cursors.get("mlflow-model:churn") == {"aliases": {}, "stages": {}}


def test_a_retention_under_three_days_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="at least 3 days"):
        Pruner(ledger.database, timedelta(days=2))


def test_a_lane_is_forgotten_once_the_round_being_served_has_reached_it(ledger: Ledger) -> None:
    ledger.events.record_many([arrival("orders", "landing/orders"), arrival("first"), arrival("second")])
    assert len(ledger.queue.claim_due()) == 3  # rounds: orders 0, churn 0 and 1; the round being served is now 1
    assert Pruner(ledger.database, timedelta(days=30)).prune_once().lanes == 1  # orders (next round 1), not churn
    ledger.events.record_many([arrival("third"), arrival("later orders", "landing/orders")])
    with ledger.database.engine.connect() as conn:
        rounds = dict(conn.execute(select(EventRow.idempotency_key, EventRow.fair_round)).tuples().all())
    assert rounds["third"] == 2 and rounds["later orders"] == 1  # the forgotten lane starts at the round served
