"""A claimed batch's debounced notices join their batches in one transaction, and still act once per batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event

from tests.clock import ManualClock
from tests.triggers.events import data_notice
from tests.triggers.harness import FAST, Harness, counting_commits
from triggers.event import Event
from triggers.ledger import Ledger
from triggers.ledger.records import EventState

DATASETS = 5
PER_DATASET = 20
ETL = """
triggers:
  - name: etl-on-data
    on: [data.arrived]
    debounce: {key: "{{ data.dataset }}", quiet_seconds: 1, max_wait_seconds: 60}
    action: {kind: append, line: "{{ data.dataset }} {{ events | map(attribute='id') | join(',') }}"}
"""


class DispatcherKilled(BaseException):
    """The dispatcher process dies here (as under SIGKILL): nothing after this point of its pass happens."""


@pytest.fixture(params=["sqlite", "postgresql"])
def timed_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Ledger, ManualClock]]:
    clock = ManualClock()
    sqlite_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    ledger = Ledger.open(url, clock=clock)
    yield ledger, clock
    ledger.close()


def notices() -> list[Event]:
    return [
        data_notice(dataset=f"churn/set-{i % DATASETS}", partition=f"date={i}") for i in range(DATASETS * PER_DATASET)
    ]


def acted_for(harness: Harness) -> dict[str, list[str]]:
    """Each action's dataset and the events it acted for, from the journal the action kind wrote."""
    acted: dict[str, list[str]] = {}
    for _request_key, line, *_ in harness.append.lines():
        dataset, ids = line.split(" ")
        assert dataset not in acted, f"{dataset} acted twice"
        acted[dataset] = ids.split(",")
    return acted


def assert_each_notice_acted_for_once(harness: Harness, stored: list[Event]) -> None:
    acted = acted_for(harness)
    assert sorted(acted) == [f"churn/set-{i}" for i in range(DATASETS)]
    assert Counter(i for ids in acted.values() for i in ids) == Counter(e.id for e in stored)
    for dataset, ids in acted.items():
        assert sorted(ids) == sorted(e.id for e in stored if e.data.model_dump()["dataset"] == dataset)
    assert {harness.state(e.id) for e in stored} == {EventState.DONE}


def test_one_claimed_batch_of_notices_for_five_datasets_joins_in_one_commit_and_acts_once_per_dataset(
    timed_ledger: tuple[Ledger, ManualClock], tmp_path: Path
) -> None:
    ledger, clock = timed_ledger
    harness = Harness.build(ledger, ETL, tmp_path)
    stored = notices()
    ledger.events.record_many(stored)
    with counting_commits(ledger) as commits:
        assert harness.dispatcher.run_once() == DATASETS * PER_DATASET
    # the claim (with the read of recorded actions), every notice's join, and the outcomes
    assert len(commits) == 3
    leaders = [e for e in stored if harness.state(e.id) == EventState.RECEIVED]
    assert len(leaders) == DATASETS
    assert harness.append.lines() == []
    clock.advance(1)
    while harness.dispatcher.run_once():
        pass
    assert_each_notice_acted_for_once(harness, stored)


def test_a_pass_killed_between_its_joins_and_its_outcomes_replays_without_losing_or_repeating_a_notice(
    timed_ledger: tuple[Ledger, ManualClock], tmp_path: Path
) -> None:
    ledger, clock = timed_ledger
    harness = Harness.build(ledger, ETL, tmp_path)
    stored = notices()
    ledger.events.record_many(stored)

    def die_before_the_outcomes(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ACTIONS"):
            raise DispatcherKilled

    sqlalchemy_event.listen(ledger.database.engine, "before_cursor_execute", die_before_the_outcomes)
    try:
        with pytest.raises(DispatcherKilled):
            harness.dispatcher.run_once()
    finally:
        sqlalchemy_event.remove(ledger.database.engine, "before_cursor_execute", die_before_the_outcomes)
    assert {harness.state(e.id) for e in stored} == {EventState.DISPATCHED}  # joined, but no outcome stored
    assert harness.dispatcher.run_once() == 0  # still leased to the dead pass

    clock.advance(FAST.lease_seconds + 1)  # the lease runs out; the batches fell due meanwhile
    while harness.dispatcher.run_once():
        pass
    assert_each_notice_acted_for_once(harness, stored)


def test_a_batch_the_database_refuses_fails_only_its_own_notices(postgres_url: str, tmp_path: Path) -> None:
    clock = ManualClock()
    ledger = Ledger.open(postgres_url, clock=clock)
    harness = Harness.build(ledger, ETL, tmp_path)
    fine = [data_notice(dataset="churn/fine", partition=f"date={i}") for i in range(10)]
    too_long = [data_notice(dataset="churn/" + "x" * 600, partition=f"date={i}") for i in range(2)]  # key > 512
    ledger.events.record_many([*fine, *too_long])
    assert harness.dispatcher.run_once() == 12
    for notice in too_long:
        refused = harness.record(notice.id)
        assert refused.state == EventState.DEAD_LETTERED
        assert refused.last_error is not None and "refused" in refused.last_error
    clock.advance(1)
    while harness.dispatcher.run_once():
        pass
    assert {harness.state(e.id) for e in fine} == {EventState.DONE}
    assert {dataset: sorted(ids) for dataset, ids in acted_for(harness).items()} == {
        "churn/fine": sorted(e.id for e in fine)
    }
    ledger.close()
