"""Twenty concurrent promotions on one branch: total time, and that every one of them landed.

Each run starts from a fresh local bare remote seeded with the template:

* baseline: the same twenty promotions, one after another, from one writer
  (twenty fetch-commit-push rounds);
* concurrent, increasing versions: versions 1..20 into one environment from
  twenty threads sharing one ``GitOpsWriter`` (the service's shape), the
  story of the concurrency test: each version is submitted right after the
  one before it and all wait together. Group commit writes each batch in
  ascending order, so all twenty must land and version 20 be deployed;
* concurrent, distinct environments: one promotion into each of twenty
  overlays, all released at once from twenty threads;
* concurrent across processes: the same twenty overlays, half from threads
  of one writer and half from separate processes sharing a second checkout
  (serialized by the file lock; each process batches only its own write),
  the two checkouts racing at the remote. Worker processes start and import
  first, then all twenty promotions are released at once.

Every concurrent run must land all twenty; the benchmark fails otherwise.

    .venv/bin/python bench/bench_concurrent_writers.py

Target: twenty concurrent promotions (one service process) all landed in at most 20 s.
Writes bench/results/bench_concurrent_writers.json, with the load average before each run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import MlopsGitopsError
from gitops.promotion import PromotionRequest
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import deployed_literal, make_request
from tests.gitops.promote_worker import wait_until_ready
from tests.gitops.repos import template_remote

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results") / "bench_concurrent_writers.json"
COUNT = 20
TARGET_SECONDS = 20.0
ENVIRONMENTS = [f"env-{i:02d}" for i in range(1, COUNT + 1)]


def settings(remote: Path, work_dir: Path) -> GitOpsSettings:
    return GitOpsSettings(
        repo_url=str(remote),
        work_dir=str(work_dir),
        environments={"staging": "overlays/staging"} | {env: f"overlays/{env}" for env in ENVIRONMENTS},
    )


def outcome_of(writer: GitOpsWriter, request: PromotionRequest) -> str:
    try:
        return "landed" if writer.promote(request).pushed else "unchanged"
    except MlopsGitopsError as e:
        return type(e).__name__


def counted(outcomes: list[str]) -> dict[str, int]:
    return {outcome: outcomes.count(outcome) for outcome in sorted(set(outcomes))}


def load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def sequential(root: Path, requests: list[PromotionRequest]) -> dict[str, Any]:
    remote = template_remote(root, ENVIRONMENTS)
    writer = GitOpsWriter(settings(remote, root / "checkout"))
    load = load_average()
    started = time.perf_counter()
    outcomes = [outcome_of(writer, r) for r in requests]
    return {"seconds": round(time.perf_counter() - started, 2), "outcomes": counted(outcomes), "load_average": load}


def in_threads(root: Path, requests: list[PromotionRequest], *, submit_in_order: bool) -> dict[str, Any]:
    """All requests through one writer from one thread each; with ``submit_in_order``, submitted in list order."""
    remote = template_remote(root, ENVIRONMENTS)
    writer = GitOpsWriter(settings(remote, root / "checkout"))
    submitted = [threading.Event() for _ in requests]

    def promote(index: int) -> str:
        if submit_in_order and index:
            submitted[index - 1].wait()
        pending = writer.submit(requests[index])
        submitted[index].set()
        try:
            return "landed" if pending.result().pushed else "unchanged"
        except MlopsGitopsError as e:
            return type(e).__name__

    load = load_average()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        outcomes = list(pool.map(promote, range(len(requests))))
    elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 2),
        "outcomes": counted(outcomes),
        "load_average": load,
        "final_version": deployed_literal(remote, "MODEL_VERSION"),
    }


def across_processes(root: Path, requests: list[PromotionRequest]) -> dict[str, Any]:
    remote = template_remote(root, ENVIRONMENTS)
    go_file = root / "go"
    for_threads, for_processes = requests[::2], requests[1::2]
    process_settings = settings(remote, root / "checkout-processes").model_dump_json()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.gitops.promote_worker", process_settings, r.model_dump_json(), str(go_file)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in for_processes
    ]
    writer = GitOpsWriter(settings(remote, root / "checkout-threads"))
    wait_until_ready(workers)
    load = load_average()
    started = time.perf_counter()
    go_file.touch()
    with ThreadPoolExecutor(max_workers=len(for_threads)) as pool:
        outcomes = list(pool.map(lambda r: outcome_of(writer, r), for_threads))
    for worker in workers:
        reply = json.loads(worker.communicate(timeout=600)[0].strip().splitlines()[-1])
        outcomes.append("landed" if reply.get("result", {}).get("pushed") else reply.get("error", "unchanged"))
    elapsed = time.perf_counter() - started
    return {"seconds": round(elapsed, 2), "outcomes": counted(outcomes), "load_average": load}


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    distinct = [make_request(1, env) for env in ENVIRONMENTS]
    increasing = [make_request(version) for version in range(1, COUNT + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-writers-") as tmp:
        print(f"baseline: {COUNT} promotions one after another ...", flush=True)
        base = sequential(Path(tmp) / "sequential", distinct)
        print(f"  {base}", flush=True)
        print(f"concurrent: versions 1..{COUNT} into one environment, {COUNT} threads ...", flush=True)
        race = in_threads(Path(tmp) / "increasing", increasing, submit_in_order=True)
        print(f"  {race}", flush=True)
        print(f"concurrent: {COUNT} promotions into {COUNT} environments, {COUNT} threads ...", flush=True)
        spread = in_threads(Path(tmp) / "distinct", distinct, submit_in_order=False)
        spread.pop("final_version")
        print(f"  {spread}", flush=True)
        print(f"concurrent: {COUNT} environments, {COUNT // 2} threads + {COUNT // 2} processes ...", flush=True)
        mixed = across_processes(Path(tmp) / "processes", distinct)
        print(f"  {mixed}", flush=True)

    all_landed = {"landed": COUNT}
    in_one_process = max(race["seconds"], spread["seconds"])
    results = {
        "promotions": COUNT,
        "baseline_sequential": base,
        "concurrent_increasing_versions": race,
        "concurrent_distinct_environments": spread,
        "concurrent_threads_and_processes": mixed,
        "ratio_increasing_to_sequential": round(race["seconds"] / base["seconds"], 2),
        "ratio_distinct_to_sequential": round(spread["seconds"] / base["seconds"], 2),
        "ratio_processes_to_sequential": round(mixed["seconds"] / base["seconds"], 2),
        "target_seconds": TARGET_SECONDS,
        "target_met": in_one_process <= TARGET_SECONDS,
    }
    print(
        f"{COUNT} concurrent promotions, all landed: increasing versions {race['seconds']} s "
        f"(final version {race['final_version']}), distinct environments {spread['seconds']} s, "
        f"threads + processes {mixed['seconds']} s; sequential baseline {base['seconds']} s "
        f"(ratios {results['ratio_increasing_to_sequential']}, {results['ratio_distinct_to_sequential']}, "
        f"{results['ratio_processes_to_sequential']}); "
        f"target <= {TARGET_SECONDS:.0f} s: {'met' if results['target_met'] else 'MISSED'}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    failed = {
        name: run["outcomes"]
        for name, run in (("increasing", race), ("distinct", spread), ("processes", mixed))
        if run["outcomes"] != all_landed
    }
    if failed or race["final_version"] != str(COUNT):
        raise SystemExit(f"not every promotion landed: {failed}, final version {race['final_version']}")


if __name__ == "__main__":
    main()
