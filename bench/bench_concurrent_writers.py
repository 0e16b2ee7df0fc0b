"""Twenty concurrent promotions on one branch: total time, and that every one of them landed.

Half the writers are threads sharing one ``GitOpsWriter`` (one checkout,
serialized by the in-process lock), half are separate processes sharing a
second checkout (serialized by the file lock); the two checkouts race at the
remote and settle by fetch, rebase and retry. Worker processes start and
import first, then all twenty promotions are released at once.

* baseline: the same twenty promotions, one after another, from one writer;
* concurrent, all distinct: one promotion into each of twenty environments
  (overlays), so none can be stale: all twenty must land;
* concurrent, increasing versions: versions 1..20 into one environment, the
  story of the concurrency test. A version overtaken by a newer one is
  refused as stale; the final state must be version 20.

    .venv/bin/python bench/bench_concurrent_writers.py

Target: the concurrent run with all twenty landed in at most 20 s.
Writes bench/results/bench_concurrent_writers.json.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
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


def concurrent(root: Path, requests: list[PromotionRequest]) -> dict[str, Any]:
    remote = template_remote(root, ENVIRONMENTS)
    go_file = root / "go"
    in_threads, in_processes = requests[::2], requests[1::2]
    process_settings = settings(remote, root / "checkout-processes").model_dump_json()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.gitops.promote_worker", process_settings, r.model_dump_json(), str(go_file)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in in_processes
    ]
    writer = GitOpsWriter(settings(remote, root / "checkout-threads"))
    wait_until_ready(workers)
    started = time.perf_counter()
    go_file.touch()
    with ThreadPoolExecutor(max_workers=len(in_threads)) as pool:
        outcomes = list(pool.map(lambda r: outcome_of(writer, r), in_threads))
    for worker in workers:
        reply = json.loads(worker.communicate(timeout=600)[0].strip().splitlines()[-1])
        outcomes.append("landed" if reply.get("result", {}).get("pushed") else reply.get("error", "unchanged"))
    elapsed = time.perf_counter() - started
    counts = {outcome: outcomes.count(outcome) for outcome in sorted(set(outcomes))}
    return {"seconds": round(elapsed, 2), "outcomes": counts, "remote": remote}


def sequential(root: Path, requests: list[PromotionRequest]) -> dict[str, Any]:
    remote = template_remote(root, ENVIRONMENTS)
    writer = GitOpsWriter(settings(remote, root / "checkout"))
    started = time.perf_counter()
    outcomes = [outcome_of(writer, r) for r in requests]
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "outcomes": {o: outcomes.count(o) for o in set(outcomes)},
    }


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    distinct = [make_request(1, env) for env in ENVIRONMENTS]
    increasing = [make_request(version) for version in range(1, COUNT + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-writers-") as tmp:
        print(f"baseline: {COUNT} promotions one after another ...", flush=True)
        base = sequential(Path(tmp) / "sequential", distinct)
        print(f"  {base}", flush=True)
        print(f"concurrent: {COUNT} promotions into {COUNT} environments at once ...", flush=True)
        spread = concurrent(Path(tmp) / "distinct", distinct)
        spread.pop("remote")
        print(f"  {spread}", flush=True)
        print(f"concurrent: versions 1..{COUNT} into one environment at once ...", flush=True)
        race = concurrent(Path(tmp) / "increasing", increasing)
        race["final_version"] = deployed_literal(race.pop("remote"), "MODEL_VERSION")
        print(f"  {race}", flush=True)

    all_landed = spread["outcomes"] == {"landed": COUNT}
    results = {
        "promotions": COUNT,
        "baseline_sequential": base,
        "concurrent_distinct_environments": spread,
        "concurrent_increasing_versions": race,
        "ratio_concurrent_to_sequential": round(spread["seconds"] / base["seconds"], 2),
        "target_seconds": TARGET_SECONDS,
        "target_met": all_landed and spread["seconds"] <= TARGET_SECONDS and race["final_version"] == str(COUNT),
    }
    print(
        f"{COUNT} concurrent promotions: {spread['seconds']} s ({spread['outcomes']}), "
        f"{results['ratio_concurrent_to_sequential']}x the sequential {base['seconds']} s; increasing versions: "
        f"{race['seconds']} s, {race['outcomes']}, final version {race['final_version']}; "
        f"target <= {TARGET_SECONDS:.0f} s with all landed: {'met' if results['target_met'] else 'MISSED'}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
