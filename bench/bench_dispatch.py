"""Dispatch throughput on the SQLite ledger: what rules, action keys and outcome records cost.

Three runs over fresh ledgers in one process, all with the same events:

* baseline: the ledger alone, claiming events and marking them done (the
  floor every dispatcher pays: one claim per batch, one write per event);
* dispatch: the real ``Dispatcher`` with a path-filtered rule and a templated
  action that appends to a journal (rule evaluation, action-key lookup,
  outcome record, done);
* debounce: the same number of data notices for a handful of datasets,
  coalesced per dataset (batch joins, the leader's deferral and one action
  per dataset).

    .venv/bin/python bench/bench_dispatch.py [--events 1000] [--batch-size 50]

Reports events per second and each run's ratio to the baseline.
Writes bench/results/bench_dispatch.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.triggers.events import BOT_EMAIL, data_notice, push
from tests.triggers.kinds import TEST_SPECS, AppendAction
from triggers.dispatcher import Dispatcher
from triggers.event import Event
from triggers.ledger.store import Ledger
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import parse_rules
from triggers.settings import DispatcherSettings

RESULTS = Path(__file__).with_name("results") / "bench_dispatch.json"
DATASETS = 5
RULES = """
triggers:
  - name: retrain-on-push
    on: [git.push]
    filters: {branches: [main], paths: ["src/*"]}
    action: {kind: append, line: "{{ data.repo }}@{{ data.after }}"}
  - name: etl-on-data
    on: [data.arrived]
    debounce: {key: "{{ data.dataset }}", quiet_seconds: 0.2, max_wait_seconds: 30}
    action: {kind: append, line: "{{ data.dataset }}: {{ events | length }}"}
"""


def timed(label: str, events: list[Event], work: Callable[[Ledger, Path], int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        ledger = Ledger.open(f"sqlite:///{tmp}/ledger.db")
        ledger.record_many(events)
        started = time.perf_counter()
        actions = work(ledger, Path(tmp))
        seconds = time.perf_counter() - started
        ledger.close()
    rate = len(events) / seconds
    print(f"  {label:<9} {len(events)} events in {seconds:6.2f} s = {rate:7.1f} events/s, {actions} actions")
    return {
        "events": len(events),
        "seconds": round(seconds, 3),
        "events_per_second": round(rate, 1),
        "actions": actions,
    }


def ledger_only(batch_size: int) -> Callable[[Ledger, Path], int]:
    def work(ledger: Ledger, _tmp: Path) -> int:
        while claimed := ledger.claim_due(limit=batch_size, lease=timedelta(minutes=5)):
            for item in claimed:
                ledger.mark_done(item.event.id, matched_rules=[])
        return 0

    return work


def dispatcher(batch_size: int, expected: int) -> Callable[[Ledger, Path], int]:
    def work(ledger: Ledger, tmp: Path) -> int:
        append = AppendAction(tmp / "journal.tsv")
        engine = RulesEngine(parse_rules(RULES, TEST_SPECS), bot_email=BOT_EMAIL)
        settings = DispatcherSettings(batch_size=batch_size)
        dispatch = Dispatcher(ledger, engine, {append.kind: append}, settings)
        while sum(ledger.count_by_state().get(s, 0) for s in ("done", "ignored", "dead_lettered")) < expected:
            if dispatch.run_once() == 0:
                time.sleep(0.01)
        return len(append.lines())

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    from core.logging import configure_logging

    configure_logging(level="WARNING")
    pushes = [push(paths=("src/train.py",)) for _ in range(args.events)]
    notices = [data_notice(dataset=f"churn/set-{i % DATASETS}", partition=f"date={i}") for i in range(args.events)]
    print(f"dispatch benchmark: {args.events} events, batch size {args.batch_size}, SQLite ledger")
    baseline = timed("baseline", pushes, ledger_only(args.batch_size))
    dispatch = timed("dispatch", pushes, dispatcher(args.batch_size, args.events))
    debounce = timed("debounce", notices, dispatcher(args.batch_size, args.events))
    for run in (dispatch, debounce):
        run["ratio_to_baseline"] = round(run["events_per_second"] / baseline["events_per_second"], 3)
    for label, run in (("dispatch", dispatch), ("debounce", debounce)):
        print(f"  {label}/baseline = {run['ratio_to_baseline']:.2f}")
    assert dispatch["actions"] == args.events, "every push must cause exactly one action"
    assert debounce["actions"] == DATASETS, "each dataset's notices must coalesce into one action"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "events": args.events,
                "batch_size": args.batch_size,
                "baseline": baseline,
                "dispatch": dispatch,
                "debounce": debounce,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
