"""Dispatch throughput and wake-up latency, on SQLite and on PostgreSQL, each beside a raw baseline of its own.

For each database, over fresh ledgers in one process:

* baseline: the same number of rows inserted into and then updated in the
  ledger's ``events`` table with the same driver and no dispatcher (one
  multi-row insert, one executemany update): what the database itself writes;
* ignored: pushes to a branch no rule watches (claim, rule evaluation, outcome);
* debounced: data notices for five datasets, coalesced per dataset (batch
  joins, the leaders' deferrals, one action per dataset): its rate counts
  until every notice has joined its batch (only the five leaders are left,
  waiting out the quiet period), and separately until the last action;
* action: pushes that each perform a no-op action (rule, action key, action
  and event outcome);
* latency: single events stored while the dispatcher idles in ``run_forever``,
  from the moment ``record`` returns to the start of their action (wake-up,
  claim, rules);
* burst: many data notices across five datasets, which should become exactly
  five runs (more when dispatching them outlasts ``max_wait_seconds``), and
  how long after the last notice the last run started, against ``quiet_seconds``;
* flood: many data notices for one dataset, stored in deliveries of 100 while
  the dispatcher idles, then one push: how long after it was stored the push's
  action started, against how long the dispatcher took to get through the
  flood (what the push would wait behind it if events were claimed in arrival
  order).

    .venv/bin/python bench/bench_dispatch.py [--events 2000] [--batch-size 100] [--databases sqlite,postgresql]
        [--scenarios flood,...]

Reports events per second and each figure's ratio to its database's baseline.
Writes bench/results/bench_dispatch.json (``bench_dispatch_<scenarios>.json`` for a subset), with the load
average at the start and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import bindparam, update

from tests.infra.postgres import PostgresCluster
from tests.triggers.events import BOT_EMAIL, data_notice, push
from tests.triggers.kinds import TEST_SPECS, AppendAction, AppendSpec
from triggers.actions.base import ActionOutcome, ActionRequest
from triggers.dispatcher import Dispatcher
from triggers.event import Event
from triggers.ledger import Ledger
from triggers.ledger.ingest_rows import IngestInsert
from triggers.ledger.schema import EventRow
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import parse_rules
from triggers.settings import DispatcherSettings

RESULTS = Path(__file__).with_name("results") / "bench_dispatch.json"
DATASETS = 5
QUIET_SECONDS = 1.0
LATENCY_SAMPLES = 100
SCENARIOS = frozenset({"ignored", "debounced", "action", "latency", "burst", "flood"})
RULES = f"""
triggers:
  - name: retrain-on-push
    on: [git.push]
    filters: {{branches: [main], paths: ["src/*"]}}
    action: {{kind: append, line: "{{{{ data.repo }}}}@{{{{ data.after }}}}"}}
  - name: etl-on-data
    on: [data.arrived]
    debounce: {{key: "{{{{ data.dataset }}}}", quiet_seconds: {QUIET_SECONDS}, max_wait_seconds: 60}}
    action: {{kind: append, line: "{{{{ data.dataset }}}}: {{{{ events | length }}}}"}}
"""


class TimedAppend(AppendAction):
    """The no-op action: appends its line, and notes when each action started."""

    def __init__(self, journal: Path) -> None:
        super().__init__(journal)
        self.started: dict[str, float] = {}

    def perform(self, spec: AppendSpec, request: ActionRequest) -> ActionOutcome:
        self.started[request.action_key] = time.perf_counter()
        return super().perform(spec, request)


@contextmanager
def fresh_ledger(database: str, cluster: PostgresCluster | None, names: Iterator[int]) -> Iterator[Ledger]:
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        if database == "sqlite":
            url = f"sqlite:///{tmp}/ledger.db"
        else:
            assert cluster is not None
            url = cluster.create_database(f"bench_dispatch_{next(names)}")
        ledger = Ledger.open(url)
        try:
            yield ledger
        finally:
            ledger.close()


def figure(events: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {"events": events, "seconds": round(seconds, 3), "events_per_second": round(events / seconds, 1), **extra}


def raw_baseline(ledger: Ledger, events: list[Event]) -> dict[str, Any]:
    """Insert the rows and update each one's state, with the ledger's own driver and nothing else."""
    insert = IngestInsert(ledger.database.engine.dialect)
    now = ledger.database.clock()
    mark = update(EventRow).where(EventRow.id == bindparam("event_id")).values(state="done", updated_at=now)
    started = time.perf_counter()
    with ledger.database.engine.begin() as conn:
        insert.run(conn, events, [0] * len(events), state="received", now=now)
    with ledger.database.engine.begin() as conn:
        conn.execute(mark, [{"event_id": e.id} for e in events])
    return figure(len(events), time.perf_counter() - started)


def drained(
    ledger: Ledger, events: list[Event], batch_size: int, tmp: Path, waiting: int = 0
) -> tuple[float, float, TimedAppend]:
    """Store ``events``, then dispatch until every one is finished.

    Returns the seconds until a pass found nothing more to claim (every event had its pass; all but ``waiting``
    of them are finished: the debounce leaders, which wait out their quiet period), the seconds until all were
    finished, and the action kind. The events are counted only between passes that found nothing, so the
    counting is no part of the dispatching measured.
    """
    append = TimedAppend(tmp / "journal.tsv")
    settings = DispatcherSettings(batch_size=batch_size)
    dispatch = Dispatcher(
        ledger, RulesEngine(parse_rules(RULES, TEST_SPECS), bot_email=BOT_EMAIL), _kinds(append), settings
    )
    ledger.events.record_many(events)
    started = time.perf_counter()
    handled = None
    while True:
        if dispatch.run_once() > 0:
            continue
        if handled is None:  # the first pass that found nothing: every event had its first pass
            handled = time.perf_counter() - started
            assert _finished(ledger) >= len(events) - waiting, "more events wait than the debounce leaders"
        if _finished(ledger) >= len(events):
            break
        time.sleep(0.005)  # only debounce leaders wait now, for their quiet period
    return handled, time.perf_counter() - started, append


def _kinds(append: TimedAppend) -> dict[str, Any]:
    return {append.kind: append}


def _finished(ledger: Ledger) -> int:
    counts = ledger.reads.count_by_state()
    return sum(counts.get(s, 0) for s in ("done", "ignored", "dead_lettered"))


def with_dispatcher_running(
    ledger: Ledger, tmp: Path, batch_size: int, work: Callable[[TimedAppend], dict[str, Any]]
) -> dict[str, Any]:
    append = TimedAppend(tmp / "journal.tsv")
    settings = DispatcherSettings(batch_size=batch_size)
    dispatch = Dispatcher(
        ledger, RulesEngine(parse_rules(RULES, TEST_SPECS), bot_email=BOT_EMAIL), _kinds(append), settings
    )
    stop = threading.Event()
    worker = threading.Thread(target=dispatch.run_forever, args=(stop,), daemon=True)
    worker.start()
    try:
        time.sleep(1.0)  # its first pass has found nothing and it sleeps (and on PostgreSQL, listens)
        return work(append)
    finally:
        stop.set()
        ledger.database.wakeup.notify()
        worker.join(30)


def latency(ledger: Ledger, append: TimedAppend) -> dict[str, Any]:
    samples = []
    for _ in range(LATENCY_SAMPLES):
        event = push(paths=("src/train.py",))
        ledger.events.record(event)
        stored = time.perf_counter()
        key = f"retrain-on-push:{event.id}"
        while key not in append.started:
            time.sleep(0.0005)
        samples.append((append.started[key] - stored) * 1000)
        time.sleep(0.05)  # idle again before the next one
    cuts = statistics.quantiles(samples, n=100)
    return {"samples": len(samples), "p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2)}


def burst(ledger: Ledger, append: TimedAppend, notices: int) -> dict[str, Any]:
    events = [data_notice(dataset=f"churn/set-{i % DATASETS}", partition=f"date={i}") for i in range(notices)]
    for start in range(0, notices, 500):  # as a Kafka consumer stores them
        ledger.events.record_many(events[start : start + 500])
    last_notice = time.perf_counter()
    deadline = last_notice + QUIET_SECONDS + 900
    while _finished(ledger) < notices:  # the figure is when the last run started, so a slow poll costs nothing
        assert time.perf_counter() < deadline, "the burst never finished"
        time.sleep(0.2)
    runs = [k for k in append.started if k.startswith("etl-on-data:")]
    last_start = max(append.started[k] for k in runs) - last_notice
    return {
        "notices": notices,
        "runs": len(runs),
        "one_run_per_dataset": len(runs) == DATASETS,  # else dispatching the burst outlasted max_wait_seconds
        "last_run_started_after_last_notice_s": round(last_start, 3),
        "quiet_seconds": QUIET_SECONDS,
        "within_quiet_plus_5_s": last_start <= QUIET_SECONDS + 5,
    }


def notice_as_listened(dataset: str, partition: str) -> Event:
    """A data notice whose subject is its dataset, as ``listeners.sources.data`` makes it (the test builder's
    subject also names the partition)."""
    return data_notice(dataset=dataset, partition=partition).model_copy(update={"subject": dataset})


def flood(ledger: Ledger, append: TimedAppend, notices: int) -> dict[str, Any]:
    flooded = [notice_as_listened(dataset="churn/flooded", partition=f"date={i}") for i in range(notices)]
    for start in range(0, notices, 100):  # deliveries of at most listeners.max_events_per_delivery (100)
        ledger.events.record_many(flooded[start : start + 100])
    other = push(paths=("src/train.py",))
    ledger.events.record(other)
    stored = time.perf_counter()
    key = f"retrain-on-push:{other.id}"
    deadline = stored + 1800
    while key not in append.started:
        assert time.perf_counter() < deadline, "the push behind the flood never acted"
        time.sleep(0.001)
    waited = append.started[key] - stored
    while _finished(ledger) < notices + 1:
        assert time.perf_counter() < deadline, "the flood never finished"
        time.sleep(0.01)
    drained = time.perf_counter() - stored
    return {
        "flood_notices": notices,
        "other_lane_action_started_after_s": round(waited, 3),
        "flood_dispatched_in_s": round(drained, 3),
        "ratio_to_flood": round(waited / drained, 4),
    }


def bench_database(
    database: str,
    cluster: PostgresCluster | None,
    events: int,
    batch_size: int,
    burst_notices: int,
    flood_notices: int,
    scenarios: frozenset[str] = SCENARIOS,
) -> dict[str, Any]:
    names = iter(range(1, 1000))
    pushes = [push(paths=("src/train.py",)) for _ in range(events)]
    elsewhere = [push(ref="refs/heads/feature/x") for _ in range(events)]
    notices = [data_notice(dataset=f"churn/set-{i % DATASETS}", partition=f"date={i}") for i in range(events)]
    result: dict[str, Any] = {}
    with fresh_ledger(database, cluster, names) as ledger:
        result["baseline"] = raw_baseline(ledger, pushes)
    for label, batch, actions in (
        ("ignored", elsewhere, 0),
        ("debounced", notices, DATASETS),
        ("action", pushes, events),
    ):
        if label not in scenarios:
            continue
        with fresh_ledger(database, cluster, names) as ledger, tempfile.TemporaryDirectory() as tmp:
            leaders = DATASETS if label == "debounced" else 0
            seconds, total, append = drained(ledger, batch, batch_size, Path(tmp), waiting=leaders)
            assert len(append.started) == actions, f"{label}: {len(append.started)} actions, expected {actions}"
            result[label] = figure(events, seconds, actions=actions)
            if label == "debounced":  # the leaders wait out the quiet period; it is not dispatch work
                result[label]["measured_until"] = "every notice joined; the leaders wait out the quiet period"
                result[label]["seconds_including_quiet_and_actions"] = round(total, 3)
                result[label]["events_per_second_including_quiet"] = round(events / total, 1)
                result[label]["quiet_seconds"] = QUIET_SECONDS
    for label in scenarios & {"ignored", "debounced", "action"}:
        result[label]["ratio_to_baseline"] = round(
            result[label]["events_per_second"] / result["baseline"]["events_per_second"], 3
        )
    running: dict[str, Callable[[Ledger, TimedAppend], dict[str, Any]]] = {
        "latency": latency,
        "burst": lambda ledger, append: burst(ledger, append, burst_notices),
        "flood": lambda ledger, append: flood(ledger, append, flood_notices),
    }
    for label, work in running.items():
        if label not in scenarios:
            continue
        with fresh_ledger(database, cluster, names) as ledger, tempfile.TemporaryDirectory() as tmp:
            result[label] = with_dispatcher_running(ledger, Path(tmp), batch_size, partial(work, ledger))
    return result


def report(database: str, result: dict[str, Any]) -> None:
    print(f"{database}: baseline {result['baseline']['events_per_second']:.0f} rows/s (insert + update)")
    for label in ("ignored", "debounced", "action"):
        if label not in result:
            continue
        run = result[label]
        print(f"  {label:<9} {run['events_per_second']:8.1f} events/s  ({run['ratio_to_baseline']:.3f}x baseline)")
        if "events_per_second_including_quiet" in run:
            with_quiet = run["events_per_second_including_quiet"]
            print(f"            {with_quiet:8.1f} events/s to the last action, with the quiet")
    if lat := result.get("latency"):
        print(f"  stored-to-action latency p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms ({lat['samples']} samples)")
    if b := result.get("burst"):
        print(
            f"  burst of {b['notices']} notices: {b['runs']} runs, the last started "
            f"{b['last_run_started_after_last_notice_s']} s after the last notice (quiet {b['quiet_seconds']} s)"
        )
    if f := result.get("flood"):
        print(
            f"  flood of {f['flood_notices']} notices on one dataset: a push stored after it acted in "
            f"{f['other_lane_action_started_after_s']} s; the flood took {f['flood_dispatched_in_s']} s "
            f"({f['ratio_to_flood']:.4f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--burst", type=int, default=10_000, help="data notices in the burst scenario")
    parser.add_argument("--flood", type=int, default=5_000, help="data notices for one dataset in the flood scenario")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--scenarios", default=",".join(sorted(SCENARIOS)), help="which of them to run (the baseline always runs)"
    )
    args = parser.parse_args()
    from core.logging import configure_logging

    configure_logging(level="WARNING")
    databases = args.databases.split(",")
    cluster = PostgresCluster.start() if "postgresql" in databases else None
    results: dict[str, Any] = {
        "events": args.events,
        "batch_size": args.batch_size,
        "load_average_at_start": [round(n, 2) for n in os.getloadavg()],
    }
    try:
        for database in databases:
            chosen_scenarios = frozenset(args.scenarios.split(","))
            results[database] = bench_database(
                database, cluster, args.events, args.batch_size, args.burst, args.flood, chosen_scenarios
            )
            report(database, results[database])
    finally:
        if cluster is not None:
            cluster.stop()
    results["load_average_at_end"] = [round(n, 2) for n in os.getloadavg()]
    print(f"load average: {results['load_average_at_start']} at the start, {results['load_average_at_end']} at the end")
    chosen = sorted(args.scenarios.split(","))
    written = RESULTS if set(chosen) == SCENARIOS else RESULTS.with_name(f"bench_dispatch_{'_'.join(chosen)}.json")
    written.parent.mkdir(exist_ok=True)
    written.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {written}")


if __name__ == "__main__":
    main()
