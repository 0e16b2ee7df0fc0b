"""Ray-distributed XGBoost vs plain single-process ``xgboost.train`` on the same 1M rows.

Both fits use the same data, parameters and rounds. The plain fit uses all
cores in one process (the baseline); the Ray path is the training step's own
``train_distributed``. Ray's one-off costs (starting the local instance, the
first actor start) are reported apart from the warm fits, since the local
backend pays them once per process, not per run.

    .venv/bin/python bench/bench_ray_xgboost.py [--rows 1000000] [--rounds 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from devtools.datagen import customer_snapshot
from workflows.steps.contract import RayRuntime
from workflows.steps.datasets import contract_for
from workflows.steps.ray_xgboost import ensure_ray, tracker_host, train_distributed

CUSTOMER_ACTIVITY = contract_for("churn/customer_activity")
RESULTS = Path(__file__).parent / "results" / "bench_ray_xgboost.json"
PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.1, "seed": 42}


def _data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    frame = customer_snapshot(np.random.default_rng(11), rows, date(2026, 11, 1))
    features = frame[list(CUSTOMER_ACTIVITY.feature_columns)].to_numpy(np.float32)
    return features, frame[CUSTOMER_ACTIVITY.label].to_numpy(np.float32)


def _timed(label: str, fit: Callable[[], xgb.Booster]) -> tuple[float, xgb.Booster]:
    started = time.perf_counter()
    booster = fit()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.2f} s", flush=True)
    return seconds, booster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{args.rows:,} rows x {args.rounds} rounds, {cores} cores, load average {os.getloadavg()[0]:.1f}")
    features, labels = _data(args.rows)
    check = slice(0, 100_000)

    plain_times, plain_model = [], None
    for i in range(args.repeats):
        seconds, plain_model = _timed(
            f"plain xgboost.train #{i + 1}",
            lambda: xgb.train(
                {**PARAMS, "nthread": cores}, xgb.DMatrix(features, label=labels, nthread=cores), args.rounds
            ),
        )
        plain_times.append(seconds)

    started = time.perf_counter()
    runtime = RayRuntime(num_cpus=cores)
    ensure_ray(runtime)
    ray_start = time.perf_counter() - started
    print(f"  Ray start (once per process): {ray_start:.2f} s")
    cold, _ = _timed(
        "Ray, first fit (starts actors)",
        lambda: train_distributed(
            features, labels, PARAMS, args.rounds, args.workers, tracker_ip=tracker_host(runtime)
        ),
    )
    ray_times, ray_model = [], None
    for i in range(args.repeats):
        seconds, ray_model = _timed(
            f"Ray warm fit #{i + 1}",
            lambda: train_distributed(
                features, labels, PARAMS, args.rounds, args.workers, tracker_ip=tracker_host(runtime)
            ),
        )
        ray_times.append(seconds)

    assert plain_model is not None and ray_model is not None
    plain_auc = roc_auc_score(labels[check], plain_model.inplace_predict(features[check]))
    ray_auc = roc_auc_score(labels[check], ray_model.inplace_predict(features[check]))
    plain, warm = statistics.median(plain_times), statistics.median(ray_times)
    results = {
        "rows": args.rows,
        "rounds": args.rounds,
        "cores": cores,
        "ray_workers": args.workers,
        "load_average_1m_at_end": os.getloadavg()[0],
        "plain_seconds": plain_times,
        "ray_start_seconds": ray_start,
        "ray_first_fit_seconds": cold,
        "ray_warm_seconds": ray_times,
        "ratio_warm_vs_plain": warm / plain,
        "ratio_first_fit_vs_plain": cold / plain,
        "target_ratio": 1.5,
        "auc_plain": plain_auc,
        "auc_ray": ray_auc,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"plain median {plain:.2f} s, Ray warm median {warm:.2f} s: ratio {warm / plain:.2f}x (target <= 1.5x)")
    print(f"first Ray fit {cold:.2f} s ({cold / plain:.2f}x); AUC plain {plain_auc:.4f}, Ray {ray_auc:.4f}")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
