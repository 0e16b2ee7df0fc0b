"""The local retrain pipeline on 1M raw rows: wall time of each stage, against a plain pandas + XGBoost baseline.

Stages run exactly as the local backend runs them (the step registry, in the
pipeline's order, with the backend's Spark and Ray sizing): Spark start, ETL,
materialize, training set, Ray start, train, evaluate, register. ``feast
apply`` is not a stage of ``retrain``: it runs once per workspace (the
feature-apply pipeline), so it is timed as setup and reported apart. The
baseline does the bare minimum in one process (pandas reads and de-duplicates
the CSVs, ``xgboost.train`` fits the same parameters and rounds) so the ratio
shows what the pipeline's guarantees cost.

    .venv/bin/python bench/bench_local_retrain.py [--rows 1000000] [--tracking-uri URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from devtools.datagen import generate_raw_partitions
from devtools.devstack.mlflow_server import MlflowServer
from workflows.mlrepo.scaffold import init_ml_repo
from workflows.params import EtlParams, FeatureApplyParams, RetrainParams
from workflows.steps import PIPELINE_TASKS, STEPS
from workflows.steps.contract import StepRequest, StepRuntime
from workflows.steps.datasets import contract_for
from workflows.steps.ray_xgboost import ensure_ray
from workflows.steps.spark import spark_session

CUSTOMER_ACTIVITY = contract_for("churn/customer_activity")
REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "bench_local_retrain.json"
PARAMS_FILE = "max_depth: 6\nlearning_rate: 0.1\nn_estimators: 100\nrandom_state: 42\n"
TARGET_SECONDS = 180.0


def _timed(stages: dict[str, float], name: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    stages[name] = time.perf_counter() - started
    print(f"  {name}: {stages[name]:.1f} s", flush=True)
    return result


def _uptime() -> str:
    """``uptime``'s line: the figures mean little without the load the machine was under."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()


def _ml_repo(root: Path) -> tuple[str, str]:
    """The scaffolded ML repository with the bench's hyperparameters committed on top."""
    repo = root / "ml-code"
    init_ml_repo(repo, feature_repo=REPO_ROOT / "feature_repo", author=("bench", "bench@example.com"))
    (repo / "configs" / "xgb_model_params.yaml").write_text(PARAMS_FILE)
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "commit", "-q", "-am", "params"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return str(repo), sha


def _baseline(raw: Path, partitions: tuple[str, ...]) -> float:
    """pandas + single-process xgboost.train over the same CSVs, parameters and rounds."""
    started = time.perf_counter()
    frame = pd.concat(pd.read_csv(raw / p / "part-0.csv", dtype=str) for p in partitions)
    columns = [c.name for c in CUSTOMER_ACTIVITY.columns if c.name != CUSTOMER_ACTIVITY.timestamp]
    numeric = frame[columns].apply(pd.to_numeric, errors="coerce")
    numeric["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], errors="coerce", utc=True)
    clean = numeric.dropna(subset=["customer_id", "event_timestamp", "churned"]).drop_duplicates(
        ["customer_id", "event_timestamp"]
    )
    clean = clean[clean["churned"].isin([0, 1])]
    features = clean[list(CUSTOMER_ACTIVITY.feature_columns)].to_numpy(np.float32)
    cores = os.cpu_count() or 1
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 42, "nthread": cores}
    xgb.train(params, xgb.DMatrix(features, label=clean["churned"].to_numpy(np.float32), nthread=cores), 100)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tracking-uri", help="Use this MLflow server instead of starting one.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-local-retrain-"))
    load_at_start = _uptime()
    print(f"{args.rows:,} raw rows, work dir {root}; {load_at_start}")
    server = None if args.tracking_uri else MlflowServer.start(root / "mlflow")
    tracking_uri = args.tracking_uri or server.tracking_uri  # type: ignore[union-attr]
    try:
        generated = generate_raw_partitions(root / "raw", rows=args.rows, days=5)
        repo_url, sha = _ml_repo(root)
        runtime = StepRuntime(
            work_dir=str(root / "work"),
            feature_store_dir=str(root / "work" / "feature_store"),
            feature_repo_source=str(REPO_ROOT / "feature_repo"),
            feast_project="churn",
            mlflow_tracking_uri=tracking_uri,
        )
        etl = EtlParams(source_uri=str(root / "raw"), partitions=generated.partitions)
        retrain = RetrainParams(repo_url=repo_url, commit=sha, etl=etl, model_name="churn-bench", num_workers=2)
        stages: dict[str, float] = {}
        setup: dict[str, float] = {}
        outputs: dict[str, dict[str, Any]] = {}

        def run(timings: dict[str, float], step_name: str, params: Any) -> None:
            step = STEPS[step_name]
            request = StepRequest[step.params_model](  # type: ignore[name-defined]
                params=params, upstream=outputs, runtime=runtime, workflow_name="bench-retrain"
            )
            outputs[step_name] = _timed(timings, step_name, lambda: step.load()(request)).model_dump(mode="json")

        _timed(stages, "spark start", lambda: spark_session(runtime.spark))
        run(setup, "feast-apply", FeatureApplyParams())
        for task in PIPELINE_TASKS["retrain"]:
            if task.step == "train":
                _timed(stages, "ray start", lambda: ensure_ray(runtime.ray))
            run(stages, task.step, etl if task.params_field == "etl" else retrain)
        total = sum(stages.values())
        print("  baseline (pandas + xgboost.train) ...", flush=True)
        baseline = _baseline(root / "raw", generated.partitions)
    finally:
        if server is not None:
            server.stop()
    results = {
        "rows": args.rows,
        "cores": os.cpu_count(),
        "uptime_at_start": load_at_start,
        "uptime_at_end": _uptime(),
        "stage_seconds": stages,
        "total_seconds": total,
        "setup_seconds_once_per_workspace": setup,
        "target_seconds": TARGET_SECONDS,
        "baseline_seconds": baseline,
        "ratio_vs_baseline": total / baseline,
        "rows_written": outputs["etl"]["rows_written"],
        "holdout_metric": outputs["evaluate"]["metric"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"total {total:.1f} s (target <= {TARGET_SECONDS:.0f} s); baseline {baseline:.1f} s: {total / baseline:.1f}x")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
