"""Promotion to pushed commit: what the write-back costs over a bare ``git commit`` + ``git push``.

Two runs against local bare remotes seeded with the ``gitops init`` template:

* baseline: in a plain clone, change the one ``MODEL_VERSION=`` line of the
  staging overlay with a string replace, ``git commit -a`` and ``git push``
  (the floor: two git processes and the push itself);
* promotion: ``GitOpsWriter.promote`` of increasing versions to staging
  (lock, fetch and reset to the remote, stale check, round-trip YAML edit of
  four literals, commit with lineage trailers, push).

    .venv/bin/python bench/bench_promotion.py [--promotions 50]

Reports p50/p99/mean latency of each and the promotion/baseline ratio; the
target is a promotion p50 of at most 1 s. Writes bench/results/bench_promotion.json,
with the load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import make_request
from tests.gitops.repos import BOT, template_remote

RESULTS = Path(__file__).with_name("results") / "bench_promotion.json"
TARGET_P50_SECONDS = 1.0


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 1),
        "mean_ms": round(1000 * statistics.fmean(ordered), 1),
    }


def baseline(root: Path, count: int) -> list[float]:
    remote = template_remote(root / "baseline")
    clone = root / "baseline-clone"
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
    git = ["git", "-C", str(clone), "-c", f"user.name={BOT[0]}", "-c", f"user.email={BOT[1]}"]
    overlay = clone / "overlays" / "staging" / "kustomization.yaml"
    samples = []
    for version in range(1, count + 1):
        started = time.perf_counter()
        overlay.write_text(overlay.read_text().replace(f"MODEL_VERSION={version - 1}", f"MODEL_VERSION={version}"))
        subprocess.run([*git, "commit", "-qam", f"Promote version {version}"], check=True)
        subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], check=True)
        samples.append(time.perf_counter() - started)
    return samples


def promotions(root: Path, count: int) -> list[float]:
    remote = template_remote(root / "writer")
    writer = GitOpsWriter(GitOpsSettings(repo_url=str(remote), work_dir=str(root / "writer-checkout")))
    samples = []
    for version in range(1, count + 1):
        started = time.perf_counter()
        result = writer.promote(make_request(version))
        samples.append(time.perf_counter() - started)
        assert result.pushed, result
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--promotions", type=int, default=50)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-promotion-") as tmp:
        print(f"baseline: {args.promotions} x (edit one line, git commit -a, git push) ...", flush=True)
        base = percentiles(baseline(Path(tmp), args.promotions))
        print(f"  {base}", flush=True)
        print(f"promotion: {args.promotions} x GitOpsWriter.promote ...", flush=True)
        promo = percentiles(promotions(Path(tmp), args.promotions))
        print(f"  {promo}", flush=True)

    results: dict[str, Any] = {
        "promotions": args.promotions,
        "baseline_commit_push": base,
        "promotion": promo,
        "ratio_p50": round(promo["p50_ms"] / base["p50_ms"], 2),
        "ratio_p99": round(promo["p99_ms"] / base["p99_ms"], 2),
        "target_p50_ms": TARGET_P50_SECONDS * 1000,
        "target_met": promo["p50_ms"] <= TARGET_P50_SECONDS * 1000,
        "load_average_at_start": [round(load, 2) for load in load_at_start],
        "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
    }
    print(
        f"promotion p50 {promo['p50_ms']} ms, p99 {promo['p99_ms']} ms = {results['ratio_p50']}x / "
        f"{results['ratio_p99']}x the bare commit+push; target p50 <= 1000 ms: "
        f"{'met' if results['target_met'] else 'MISSED'}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
