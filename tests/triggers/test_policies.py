"""Debounce, follow-up chains, concurrency policies and rate limits, on a real ledger."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.clock import ManualClock
from tests.triggers.events import data_notice, push
from tests.triggers.harness import Harness, counting_commits
from triggers.ledger import Ledger
from triggers.ledger.records import EventState
from triggers.ledger.schema import ConcurrencySlotRow

DEBOUNCED_ETL = """
triggers:
  - name: etl-on-data
    on: [data.arrived]
    debounce: {key: "{{ data.dataset }}", quiet_seconds: 0.3, max_wait_seconds: 60}
    action:
      kind: append
      line: >-
        {{ data.dataset }} {{ events | length }}
        {{ events | map(attribute='data.partition') | unique | join(',') }}
"""


def test_a_burst_of_50_notices_for_one_dataset_produces_exactly_one_run(ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(ledger, DEBOUNCED_ETL, tmp_path)
    burst = [data_notice(partition=f"date=2026-11-{10 + i % 5}") for i in range(50)]
    other = data_notice(dataset="churn/payments")
    ledger.events.record_many([*burst, other])
    harness.settle(*(e.id for e in burst), other.id)

    lines = sorted(line[1] for line in harness.append.lines())
    assert lines == [
        "churn/customer_activity 50 date=2026-11-10,date=2026-11-11,date=2026-11-12,date=2026-11-13,date=2026-11-14",
        "churn/payments 1 date=2026-11-26",
    ]
    statuses = [a.status for e in burst for a in harness.record(e.id).actions]
    assert sorted(statuses) == ["coalesced"] * 49 + ["succeeded"]
    (leader_action,) = [a for e in burst for a in harness.record(e.id).actions if a.status == "succeeded"]
    assert leader_action.action_key.startswith("etl-on-data:batch-")
    assert sorted(leader_action.detail["events"]) == sorted(e.id for e in burst)


def test_a_notice_after_the_batch_ran_opens_a_new_batch(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(sqlite_ledger, DEBOUNCED_ETL, tmp_path)
    first = data_notice(partition="date=2026-11-01")
    sqlite_ledger.events.record(first)
    harness.settle(first.id)
    second = data_notice(partition="date=2026-11-02")
    sqlite_ledger.events.record(second)
    harness.settle(second.id)
    assert [line[1] for line in harness.append.lines()] == [
        "churn/customer_activity 1 date=2026-11-01",
        "churn/customer_activity 1 date=2026-11-02",
    ]


CHAIN = """
triggers:
  - name: retrain
    on: [git.push]
    action: {kind: file-job, params: {commit: "{{ data.after }}"}}
    then:
      - when: "outputs.beats_champion"
        action: {kind: append, line: "promote {{ outputs.version }} trained at {{ data.after }}"}
"""


def test_a_follow_up_runs_when_the_run_finished_and_its_outputs_say_so(ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(ledger, CHAIN, tmp_path)
    winner, loser = push(), push()
    ledger.events.record_many([winner, loser])
    harness.dispatch_until(lambda: len(harness.jobs.submitted()) == 2)
    harness.dispatcher.run_once()
    assert harness.state(winner.id) == EventState.RECEIVED  # deferred while its run goes on
    assert [a.status for a in harness.record(winner.id).actions] == ["running"]

    by_key = {job.name: job for job in harness.jobs.submitted()}
    harness.jobs.finish(by_key[f"retrain_{winner.id}.job.json"], outputs={"beats_champion": True, "version": "7"})
    harness.jobs.finish(by_key[f"retrain_{loser.id}.job.json"], outputs={"beats_champion": False, "version": "8"})
    harness.settle(winner.id, loser.id)

    assert [line[1] for line in harness.append.lines()] == [f"promote 7 trained at {winner.data.after}"]
    assert [a.status for a in harness.record(winner.id).actions] == ["succeeded", "succeeded"]
    assert [a.status for a in harness.record(loser.id).actions] == ["succeeded", "skipped"]
    assert harness.record(winner.id).actions[0].detail["outputs"] == {"beats_champion": True, "version": "7"}


def test_a_failed_run_dead_letters_the_event_and_a_replay_submits_a_new_run(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    harness = Harness.build(sqlite_ledger, CHAIN, tmp_path)
    event = push()
    sqlite_ledger.events.record(event)
    harness.dispatch_until(lambda: len(harness.jobs.submitted()) == 1)
    harness.jobs.finish(harness.jobs.submitted()[0], ok=False)
    harness.settle(event.id, states=(EventState.DEAD_LETTERED,))
    assert "failed" in (harness.record(event.id).last_error or "")

    sqlite_ledger.queue.replay(event.id)
    harness.dispatch_until(lambda: len(harness.jobs.submitted()) == 2)
    assert {job.name for job in harness.jobs.submitted()} == {
        f"retrain_{event.id}.job.json",
        f"retrain_{event.id}~1.job.json",
    }


def concurrency_rules(policy: str) -> str:
    return f"""
triggers:
  - name: retrain
    on: [git.push]
    action: {{kind: file-job}}
    concurrency: {{key: "{{{{ data.repo }}}}", policy: {policy}}}
"""


def test_policy_queue_waits_for_the_running_one(ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(ledger, concurrency_rules("queue"), tmp_path)
    first = push()
    ledger.events.record(first)
    harness.dispatch_until(lambda: len(harness.jobs.submitted()) == 1)
    second = push()
    ledger.events.record(second)
    harness.dispatch_until(lambda: [a.status for a in harness.record(second.id).actions] == ["queued"])
    assert len(harness.jobs.submitted()) == 1

    harness.jobs.finish(harness.jobs.submitted()[0])
    harness.settle(first.id)
    harness.dispatch_until(lambda: len(harness.jobs.submitted()) == 2)
    harness.jobs.finish(next(j for j in harness.jobs.submitted() if second.id in j.name))
    harness.settle(second.id)


QUEUED_APPEND = """
triggers:
  - name: journal
    on: [git.push]
    action: {kind: append, line: "{{ id }}"}
    concurrency: {key: "{{ data.repo }}", policy: queue}
"""


def test_a_chain_that_ended_frees_its_slot_with_its_event_outcome_and_a_later_chain_of_the_batch_takes_it(
    ledger: Ledger, tmp_path: Path
) -> None:
    harness = Harness.build(ledger, QUEUED_APPEND, tmp_path)
    first, second = push(), push()  # one repository: one slot
    ledger.events.record_many([first, second])
    with counting_commits(ledger) as commits:
        assert harness.dispatcher.run_once() == 2
    # the claim, each chain taking the slot (the second takes it from the first, which ended), and the outcomes
    # with the slot's release: no commit of its own for a release
    assert len(commits) == 4
    assert [line[1] for line in harness.append.lines()] == [first.id, second.id]
    assert {harness.state(first.id), harness.state(second.id)} == {EventState.DONE}
    with ledger.database.reading() as s:
        assert s.execute(select(ConcurrencySlotRow)).all() == []


def test_policy_replace_cancels_the_older_run(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    harness = Harness.build(sqlite_ledger, concurrency_rules("replace"), tmp_path)
    older, newer = push(), push()
    sqlite_ledger.events.record(older)
    harness.dispatch_until(lambda: len(harness.jobs.submitted()) == 1)
    sqlite_ledger.events.record(newer)
    harness.settle(older.id)  # its run was superseded, so the older event is finished
    assert harness.jobs.cancelled == [f"retrain_{older.id}"]
    (superseded,) = harness.record(older.id).actions
    assert superseded.status == "superseded" and superseded.detail["superseded_by"] == f"retrain:{newer.id}"
    harness.jobs.finish(next(j for j in harness.jobs.submitted() if newer.id in j.name))
    harness.settle(newer.id)


def test_a_rate_limit_holds_back_starts_beyond_the_window(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    rules = """
triggers:
  - name: journal
    on: [git.push]
    action: {kind: append}
    rate_limit: {max_runs: 2, per_seconds: 3600}
"""
    harness = Harness.build(sqlite_ledger, rules, tmp_path)
    events = [push() for _ in range(3)]
    for event in events:
        sqlite_ledger.events.record(event)
        harness.dispatch_until(lambda event=event: bool(harness.record(event.id).actions))
    assert len(harness.append.lines()) == 2
    held = harness.record(events[2].id)
    assert held.state == EventState.RECEIVED and [a.status for a in held.actions] == ["rate_limited"]
    assert held.next_attempt_at > held.updated_at


def test_a_batch_leader_whose_other_rule_failed_still_runs_its_batch_before_it_is_dead_lettered(
    tmp_path: Path,
) -> None:
    rules = f"""{DEBOUNCED_ETL}
  - name: strict
    on: [data.arrived]
    filters: {{when: "data.partition == 'date=2026-11-01'"}}
    action: {{kind: append, line: "{{{{ data.no_such_field }}}}"}}
"""
    clock = ManualClock()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock)
    harness = Harness.build(ledger, rules, tmp_path)
    first = data_notice(partition="date=2026-11-01")
    ledger.events.record(first)
    assert harness.dispatcher.run_once() == 1
    leader = harness.record(first.id)
    assert leader.state == EventState.RECEIVED  # its batch can still move, so the event is not given up
    assert sorted((a.rule, a.status) for a in leader.actions) == [("etl-on-data", "debouncing"), ("strict", "failed")]

    second = data_notice(partition="date=2026-11-02")
    ledger.events.record(second)
    assert harness.dispatcher.run_once() == 1
    assert harness.state(second.id) == EventState.DONE
    clock.advance(1)
    assert harness.dispatcher.run_once() == 1
    assert [line[1] for line in harness.append.lines()] == ["churn/customer_activity 2 date=2026-11-01,date=2026-11-02"]
    dead = harness.record(first.id)
    assert dead.state == EventState.DEAD_LETTERED
    assert dead.last_error is not None and dead.last_error.startswith(f"strict:{first.id}: template for trigger")


def test_a_steady_trickle_cannot_hold_a_batch_open_past_max_wait(tmp_path: Path) -> None:
    rules = DEBOUNCED_ETL.replace("quiet_seconds: 0.3, max_wait_seconds: 60", "quiet_seconds: 10, max_wait_seconds: 30")
    clock = ManualClock()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock)
    harness = Harness.build(ledger, rules, tmp_path)
    trickle = []
    for second in range(0, 44, 4):  # a notice every 4 s, for 40 s: never 10 s of quiet
        notice = data_notice(partition=f"date=2026-11-{10 + second // 4:02d}")
        trickle.append(notice)
        ledger.events.record(notice)
        while harness.dispatcher.run_once():
            pass
        clock.advance(4)
    first_batch = ",".join(f"date=2026-11-{10 + i:02d}" for i in range(8))  # the notices of its first 30 s
    assert [line[1] for line in harness.append.lines()] == [f"churn/customer_activity 8 {first_batch}"]
    assert [harness.state(n.id) for n in trickle[:8]] == [EventState.DONE] * 8
    clock.advance(10)  # the later notices' own batch falls due once they have been quiet for 10 s
    while harness.dispatcher.run_once():
        pass
    assert [line[1] for line in harness.append.lines()][1:] == [
        "churn/customer_activity 3 date=2026-11-18,date=2026-11-19,date=2026-11-20"
    ]
