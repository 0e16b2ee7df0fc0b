"""The ledger on both of its databases: SQLite (embedded) and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update

from tests.ledger.lost_acknowledgements import commit_acknowledgement_lost
from triggers.event import DataArrival, Event, EventType
from triggers.ledger import EventState, Ledger
from triggers.ledger.action_log import ActionWrite
from triggers.ledger.coordination import BatchJoin, Coordination, SlotRelease
from triggers.ledger.dispatch_queue import EventOutcome
from triggers.ledger.ingest_rows import ROWS_PER_STATEMENT
from triggers.ledger.schema import EventRow


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":
        return Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    return Ledger.open(request.getfixturevalue("postgres_url"))


def data_event(key: str, dataset: str = "churn/events") -> Event:
    return Event(
        source="kafka/data-arrivals",
        type=EventType.DATA_ARRIVED,
        subject=dataset,
        data=DataArrival(dataset=dataset, key=f"{dataset}/part-{key}.parquet"),
        idempotency_key=key,
    )


def test_a_redelivery_is_counted_not_stored_again(ledger: Ledger) -> None:
    first = ledger.events.record(data_event("k1"))
    again = ledger.events.record(data_event("k1"))
    assert not first.duplicate
    assert again.duplicate and again.event_id == first.event_id
    record = ledger.reads.get(first.event_id)
    assert record is not None and record.duplicates == 1 and record.state is EventState.RECEIVED
    assert len(ledger.reads.list_events()) == 1


def test_a_batch_with_repeats_stores_each_key_once(ledger: Ledger) -> None:
    results = ledger.events.record_many([data_event("a"), data_event("b"), data_event("a")])
    assert [r.duplicate for r in results] == [False, False, True]
    assert results[0].event_id == results[2].event_id
    assert ledger.reads.count_by_state() == {"received": 2}


def test_a_batch_larger_than_one_insert_statement_keeps_every_event_and_finds_stored_keys(ledger: Ledger) -> None:
    earlier = ledger.events.record_many([data_event(f"k{n}") for n in range(0, ROWS_PER_STATEMENT * 2, 7)])
    batch = [data_event(f"k{n}") for n in range(ROWS_PER_STATEMENT * 2 + 3)]
    results = ledger.events.record_many(batch)
    stored_before = {f"k{n}" for n in range(0, ROWS_PER_STATEMENT * 2, 7)}
    assert [r.duplicate for r in results] == [e.idempotency_key in stored_before for e in batch]
    assert {r.event_id for r in results if r.duplicate} == {r.event_id for r in earlier}
    assert ledger.reads.count_by_state() == {"received": len(batch)}
    stored = ledger.reads.get(results[-1].event_id)
    assert stored is not None and stored.event == batch[-1]


def test_claimed_events_are_not_claimed_again_until_the_lease_expires(ledger: Ledger) -> None:
    ledger.events.record_many([data_event(f"e{i}") for i in range(5)])
    first = ledger.queue.claim_due(limit=3, owner="w1")
    second = ledger.queue.claim_due(limit=10, owner="w2")
    assert len(first) == 3 and len(second) == 2
    assert {c.event.id for c in first}.isdisjoint({c.event.id for c in second})
    assert ledger.queue.claim_due(owner="w3") == []
    expired = ledger.queue.claim_due(owner="w3", lease=timedelta(seconds=-1))
    assert expired == []  # leases of w1/w2 still run
    ledger.queue.finish([EventOutcome.done(first[0].event.id, ["r"])])
    assert ledger.reads.get(first[0].event.id).state is EventState.DONE  # type: ignore[union-attr]


def test_ids_written_into_a_claim_and_a_join_as_literals_match_only_themselves(ledger: Ledger) -> None:
    quoted = ["it's", "x') OR ('1'='1", "back\\slash'); DELETE FROM events; --"]
    plain = data_event("plain")
    ledger.events.record_many([data_event(f"q{i}").model_copy(update={"id": i_d}) for i, i_d in enumerate(quoted)])
    claimed = ledger.queue.claim_due(limit=3, owner="w1")
    assert sorted(c.event.id for c in claimed) == sorted(quoted)
    done = [ActionWrite(f"r:{c.event.id}", "append", "r", "", "succeeded", {}) for c in claimed]
    ledger.queue.finish([EventOutcome.done(c.event.id, ["r"], [a]) for c, a in zip(claimed, done, strict=True)])
    ledger.events.record(plain)
    ledger.queue.replay(quoted[2])
    again = {c.event.id: c for c in ledger.queue.claim_due(limit=10, owner="w2")}
    assert sorted(again) == sorted([quoted[2], plain.id])
    assert [a.action_key for a in again[quoted[2]].actions] == [f"r:{quoted[2]}"]
    assert again[plain.id].actions == ()
    assert ledger.reads.count_by_state() == {EventState.DONE.value: 2, EventState.DISPATCHED.value: 2}
    now = datetime.now(UTC)
    joins = [BatchJoin("etl", "k", event_id, timedelta(seconds=5), timedelta(minutes=1)) for event_id in quoted]
    landed = Coordination(ledger.database).join_batches(joins, now)
    assert Coordination(ledger.database).join_batches(joins, now) == landed  # each found as already a member
    assert {m.size for m in landed.values()} == {3}


def test_a_row_that_cannot_be_read_back_is_dead_lettered_and_the_rest_are_claimed(ledger: Ledger) -> None:
    broken, fine = ledger.events.record_many([data_event("broken"), data_event("fine")])
    with ledger.database.engine.begin() as conn:
        conn.execute(update(EventRow).where(EventRow.id == broken.event_id).values(envelope={"id": broken.event_id}))
    [claimed] = ledger.queue.claim_due()
    assert claimed.event.id == fine.event_id
    assert ledger.reads.count_by_state() == {"dispatched": 1, "dead_lettered": 1}
    with ledger.database.engine.connect() as conn:
        reason, owner = conn.execute(
            select(EventRow.last_error, EventRow.lease_owner).where(EventRow.id == broken.event_id)
        ).one()
    assert reason is not None and reason.startswith("the stored event cannot be read back: ")
    assert owner is None  # the claim that leased it dead-lettered it: no lease is left to run out


def test_an_expired_lease_returns_the_event_with_one_more_attempt(ledger: Ledger) -> None:
    ledger.events.record(data_event("lease"))
    [claimed] = ledger.queue.claim_due(owner="dead-worker", lease=timedelta(milliseconds=1))
    assert claimed.attempts == 1
    import time

    time.sleep(0.05)
    [reclaimed] = ledger.queue.claim_due(owner="healthy-worker")
    assert reclaimed.event.id == claimed.event.id and reclaimed.attempts == 2


def test_retry_waits_for_its_time_and_replay_resets_attempts(ledger: Ledger) -> None:
    ledger.events.record(data_event("retry"))
    [claimed] = ledger.queue.claim_due()
    ledger.queue.finish([EventOutcome.retry(claimed.event.id, "argo 503", datetime.now(UTC) + timedelta(hours=1))])
    assert ledger.queue.claim_due() == []
    ledger.queue.finish([EventOutcome.dead(claimed.event.id, "gave up")])
    record = ledger.reads.get(claimed.event.id)
    assert record is not None and record.state is EventState.DEAD_LETTERED and record.last_error == "gave up"
    ledger.queue.replay(claimed.event.id)
    [again] = ledger.queue.claim_due()
    assert again.event.id == claimed.event.id and again.attempts == 1


def test_actions_are_idempotent_by_key(ledger: Ledger) -> None:
    result = ledger.events.record(data_event("act"))
    ledger.actions.record(result.event_id, ActionWrite("retrain:abc", "workflow", "", "retrain-abc", "submitted", {}))
    ledger.actions.record(
        result.event_id, ActionWrite("retrain:abc", "workflow", "", "retrain-abc", "succeeded", {"model_version": "3"})
    )
    record = ledger.reads.get(result.event_id)
    assert record is not None and len(record.actions) == 1
    assert record.actions[0].status == "succeeded" and record.actions[0].detail == {"model_version": "3"}


def test_dead_letters_and_cursors_persist(ledger: Ledger) -> None:
    for _ in range(2):
        ledger.events.dead_letter(origin="kafka", origin_key="t/0/7", reason="not JSON", payload=b"\xff")
    assert [d.origin_key for d in ledger.reads.dead_letters()] == ["t/0/7"]
    ledger.cursors.put("watcher", {"last": 1})
    ledger.cursors.put("watcher", {"last": 2})
    assert ledger.cursors.get("watcher") == {"last": 2}


def test_reopening_keeps_data_and_schema_is_at_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    first = Ledger.open(url)
    stored = first.events.record(data_event("keep"))
    first.close()
    reopened = Ledger.open(url)
    assert reopened.reads.get(stored.event_id) is not None
    tables = set(inspect(reopened.database.engine).get_table_names())
    assert {"events", "actions", "dead_letters", "cursors", "alembic_version"} <= tables


def test_upgrading_from_the_first_schema_keeps_recorded_events(tmp_path: Path) -> None:
    from triggers.ledger.database import create_ledger_engine
    from triggers.ledger.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_ledger_engine(url)
    upgrade(engine, "0001")
    event = data_event("from-0001")
    now = datetime.now(UTC)
    with engine.begin() as conn:  # written as a release with only revision 0001 would have
        conn.execute(
            text(
                "INSERT INTO events (id, idempotency_key, source, type, subject, time, envelope, state, attempts,"
                " next_attempt_at, duplicates, matched_rules, received_at, updated_at) VALUES (:id, :key, :source,"
                " :type, :subject, :time, :envelope, 'received', 0, :now, 0, '[]', :now, :now)"
            ),
            {
                "id": event.id,
                "key": event.idempotency_key,
                "source": event.source,
                "type": str(event.type),
                "subject": event.subject,
                "time": event.time,
                "envelope": event.model_dump_json(),
                "now": now,
            },
        )
    engine.dispose()
    upgraded = Ledger.open(url)
    record = upgraded.reads.get(event.id)
    assert record is not None and record.event == event and record.state is EventState.RECEIVED
    [claimed] = upgraded.queue.claim_due()
    assert claimed.event.id == event.id


def test_upgrading_to_per_action_state_keeps_each_action_and_starts_a_running_one_when_it_was_recorded(
    tmp_path: Path,
) -> None:
    from triggers.ledger.database import create_ledger_engine
    from triggers.ledger.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_ledger_engine(url)
    upgrade(engine, "0003")
    event = data_event("from-0003")
    created = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with engine.begin() as conn:  # written as a release with revisions up to 0003 would have
        conn.execute(
            EventRow.__table__.insert(),
            {
                "id": event.id,
                "idempotency_key": event.idempotency_key,
                "source": event.source,
                "type": str(event.type),
                "subject": event.subject,
                "time": event.time,
                "envelope": event.model_dump(mode="json"),
                "state": "received",
                "attempts": 1,
                "next_attempt_at": created,
                "duplicates": 0,
                "replays": 0,
                "matched_rules": [],
                "received_at": created,
                "updated_at": created,
            },
        )
        for key, status in (("train:run", "running"), ("notify:wait", "queued")):
            conn.execute(
                text(
                    "INSERT INTO actions (event_id, action_key, kind, rule, target, status, detail, created_at,"
                    " updated_at) VALUES (:event, :key, 'workflow', 'train', 'run-1', :status, '{}', :at, :at)"
                ),
                {"event": event.id, "key": key, "status": status, "at": created},
            )
    engine.dispose()
    upgraded = Ledger.open(url)
    record = upgraded.reads.get(event.id)
    assert record is not None
    states = {a.action_key: (a.status, a.state.attempts, a.state.started_at) for a in record.actions}
    assert states == {"train:run": ("running", 1, created), "notify:wait": ("queued", 0, None)}


def test_a_redelivery_whose_commit_answer_was_lost_is_counted_once(ledger: Ledger) -> None:
    first = ledger.events.record(data_event("k1"))
    with commit_acknowledgement_lost() as lost:
        again = ledger.events.record_many([data_event("k1"), data_event("k2")])
    assert lost == ["COMMIT"]
    assert [r.duplicate for r in again] == [True, False] and again[0].event_id == first.event_id
    record = ledger.reads.get(first.event_id)
    assert record is not None and record.duplicates == 1
    assert ledger.reads.count_by_state() == {"received": 2}


def test_a_deferral_whose_commit_answer_was_lost_gives_back_one_attempt(ledger: Ledger) -> None:
    ledger.events.record(data_event("wait"))
    [claimed] = ledger.queue.claim_due()
    with commit_acknowledgement_lost() as lost:
        ledger.queue.finish([EventOutcome.deferred(claimed, datetime.now(UTC))])
    assert lost == ["COMMIT"]
    record = ledger.reads.get(claimed.event.id)
    assert record is not None and record.attempts == 0 and record.state is EventState.RECEIVED


def test_a_replay_whose_commit_answer_was_lost_starts_one_generation(ledger: Ledger) -> None:
    ledger.events.record(data_event("again"))
    [claimed] = ledger.queue.claim_due()
    ledger.queue.finish([EventOutcome.dead(claimed.event.id, "gave up")])
    with commit_acknowledgement_lost() as lost:
        ledger.queue.replay(claimed.event.id)
    assert lost == ["COMMIT"]
    [again] = ledger.queue.claim_due()
    assert again.replays == 1 and again.attempts == 1


def test_a_rate_window_counts_a_start_whose_commit_answer_was_lost_once(ledger: Ledger) -> None:
    coordination = Coordination(ledger.database)
    now = datetime.now(UTC)
    window = {"name": "retrain", "limit": 2, "per": timedelta(hours=1), "now": now}
    with commit_acknowledgement_lost() as lost:
        assert coordination.take_rate_token(holder_key="retrain:e1", **window) is None
    assert lost == ["COMMIT"]
    assert coordination.take_rate_token(holder_key="retrain:e1", **window) is None  # the same start asking again
    assert coordination.take_rate_token(holder_key="retrain:e2", **window) is None
    assert coordination.take_rate_token(holder_key="retrain:e3", **window) == now + timedelta(hours=1)


def test_a_slot_released_with_outcomes_is_freed_once_even_when_its_commit_answer_was_lost(ledger: Ledger) -> None:
    coordination = Coordination(ledger.database)
    ending, later = data_event("ending"), data_event("later")
    ledger.events.record_many([ending, later])
    now = datetime.now(UTC)
    slot = {"slot": "retrain:churn", "replace": False, "now": now}
    assert coordination.acquire_slot(holder_key="retrain:ending", event_id=ending.id, **slot).acquired
    (claimed, _) = ledger.queue.claim_due(limit=2)
    with commit_acknowledgement_lost() as lost:
        ledger.queue.finish(
            [EventOutcome.done(claimed.event.id, ["retrain"])], [SlotRelease("retrain:churn", "retrain:ending")]
        )
    assert lost == ["COMMIT"]
    assert coordination.acquire_slot(holder_key="retrain:later", event_id=later.id, **slot).acquired
    ledger.queue.finish([], [SlotRelease("retrain:churn", "retrain:ending")])  # run again: it frees nothing more
    assert not coordination.acquire_slot(holder_key="retrain:third", event_id="third", **slot).acquired


def test_batch_joins_whose_commit_answer_was_lost_count_each_event_once(ledger: Ledger) -> None:
    coordination = Coordination(ledger.database)
    datasets = [f"churn/set-{i % 3}" for i in range(12)]
    events = [data_event(f"k{i}", dataset=dataset) for i, dataset in enumerate(datasets)]
    ledger.events.record_many(events)
    joins = [
        BatchJoin("etl", dataset, event.id, timedelta(seconds=5), timedelta(minutes=1))
        for dataset, event in zip(datasets, events, strict=True)
    ]
    now = datetime.now(UTC)
    with commit_acknowledgement_lost() as lost:
        landed = coordination.join_batches(joins, now)
    assert lost == ["COMMIT"]
    assert coordination.join_batches(joins, now) == landed  # claimed again after its dispatcher died
    members: dict[str, list[str]] = {}
    for (_rule, event_id), membership in landed.items():
        members.setdefault(membership.batch_id, []).append(event_id)
    assert sorted(len(ids) for ids in members.values()) == [4, 4, 4]
    assert {membership.size for membership in landed.values()} == {4}
    assert {membership.leader_event_id for membership in landed.values()} == {e.id for e in events[:3]}
    closed = [e.id for batch_id in members for e in coordination.close_batch(batch_id, now)]
    assert sorted(closed) == sorted(e.id for e in events)


def test_a_notice_after_its_batch_fell_due_opens_the_next_batch(ledger: Ledger) -> None:
    coordination = Coordination(ledger.database)
    early, late = data_event("early"), data_event("late")
    ledger.events.record_many([early, late])
    now = datetime.now(UTC)
    quiet, max_wait = timedelta(seconds=5), timedelta(minutes=1)
    first = coordination.join_batches([BatchJoin("etl", "churn", early.id, quiet, max_wait)], now)[("etl", early.id)]
    later = now + timedelta(seconds=6)
    second = coordination.join_batches([BatchJoin("etl", "churn", late.id, quiet, max_wait)], later)[("etl", late.id)]
    assert second.batch_id != first.batch_id and second.leader_event_id == late.id
    assert [e.id for e in coordination.close_batch(first.batch_id, later)] == [early.id]
