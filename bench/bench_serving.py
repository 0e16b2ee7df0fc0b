"""Serving latency of the model server at a fixed request rate, against calling the model in-process.

One run stands up a real stack (an ``mlflow server``, a Feast repository with
an sqlite online store, an XGBoost booster registered in MLflow twice) and
serves it along both paths the model server has:

* booster: the booster logged with ``mlflow.xgboost``, which the server calls
  directly (``inplace_predict`` on a float matrix);
* pyfunc: the same booster logged as the train step logs every model
  (``workflows.steps.model_logging``): MLflow's pyfunc wrapper around an ML
  repository's model class, whose ``prepare`` runs on each request's frame.

For each, it starts ``python -m services.model_server`` under uvicorn on
127.0.0.1 and sends it POST /predict requests at a fixed rate over one
keep-alive connection. The same entity ids, in the same order and at the same
rate, are then run in-process twice as the baseline:

* in-process with lookup: the server's own ``Predictor.predict`` (Feast online
  lookup + model call), i.e. everything but HTTP;
* in-process model only: the model called on feature rows fetched (and
  arranged as the model's input) before the clock starts.

Latency is measured from each request's scheduled start, so a slow answer
that delays the next request counts against the server (no coordinated
omission). Target: server p99 <= 20 ms including the Feast lookup.

    .venv/bin/python bench/bench_serving.py [--rate 50] [--requests 3000] [--batch 1] [--tracking-uri URI]

Without ``--tracking-uri`` a local ``mlflow server`` is started the way the
tests start it. The pyfunc path's cost is its figures over the booster path's,
measured in the same run.

Writes bench/results/bench_serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.process import free_port, start, stop, wait_until
from services.model_server.metrics import ServingMetrics
from services.model_server.predictor import open_predictor
from services.model_server.settings import ModelServerSettings
from tests.services.serving_stack import FEATURES, ServingStack, build_serving_stack
from workflows.mlrepo.model import RepoModel
from workflows.steps.model_logging import log_served_model

RESULTS = Path(__file__).with_name("results") / "bench_serving.json"
REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 20.0
WARM_UP_CALLS = 200
LABEL = "at_risk"
# An ML repository's model class as the pyfunc path runs it: the feature service's columns, nothing derived.
RISK_MODEL_CLASS = f"""
FEATURES = {list(FEATURES)!r}


class RiskModel:
    def __init__(self, params):
        self.params = dict(params)

    def prepare(self, frame):
        return frame[FEATURES].astype("float32"), frame["{LABEL}"].astype("float32")

    def booster_params(self):
        return {{"objective": "binary:logistic", **self.params}}
"""


def start_mlflow_server(work: Path) -> MlflowServer:
    print("starting mlflow server ...", flush=True)
    return MlflowServer.start(work / "mlflow")


def paced(calls: Sequence[Callable[[], object]], rate: float) -> dict[str, float]:
    """Run ``calls`` at ``rate`` per second; latency percentiles from each call's scheduled start.

    Service time (the call alone) is reported beside it: when the two part, the
    caller queued behind slow calls, which is what the latency figure must show.
    """
    latencies, service_times = [], []
    interval = 1.0 / rate
    started = time.perf_counter()
    for index, call in enumerate(calls):
        scheduled = started + index * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        call_started = time.perf_counter()
        call()
        finished = time.perf_counter()
        latencies.append((finished - scheduled) * 1000)
        service_times.append((finished - call_started) * 1000)
    p50, p90, p99 = (float(value) for value in np.percentile(latencies, [50, 90, 99]))
    service_p50, service_p99 = (float(value) for value in np.percentile(service_times, [50, 99]))
    return {
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "max_ms": max(latencies),
        "service_p50_ms": service_p50,
        "service_p99_ms": service_p99,
        "count": len(latencies),
    }


def report(label: str, figures: dict[str, float]) -> None:
    print(
        f"  {label:<28} p50 {figures['p50_ms']:6.2f} ms   p90 {figures['p90_ms']:6.2f} ms   "
        f"p99 {figures['p99_ms']:6.2f} ms   max {figures['max_ms']:7.2f} ms   "
        f"(service time p50 {figures['service_p50_ms']:5.2f} ms, p99 {figures['service_p99_ms']:6.2f} ms)"
    )


def register_pyfunc_model(stack: ServingStack, root: Path, model_name: str) -> str:
    """The stack's booster logged as the train step logs it, behind a repository's ``prepare``; its URI."""
    repo = root / "risk-ml"
    (repo / "src" / "serving").mkdir(parents=True)
    (repo / "src" / "__init__.py").write_text("")
    (repo / "src" / "serving" / "__init__.py").write_text("")
    (repo / "src" / "serving" / "risk_model.py").write_text(RISK_MODEL_CLASS)
    model = RepoModel("train", repo, "src/serving/risk_model.py:RiskModel", {})
    raw = stack.features.reset_index(drop=True)
    mlflow.set_tracking_uri(stack.tracking_uri)
    with mlflow.start_run():
        info = log_served_model(
            stack.booster(), model, raw, label=LABEL, hyperparameters={}, repository_requirements=()
        )
    version = mlflow.register_model(info.model_uri, model_name).version
    return f"models:/{model_name}/{version}"


def measure(
    stack: ServingStack,
    model_uri: str,
    work: Path,
    batches: list[list[int]],
    args: argparse.Namespace,
) -> tuple[dict[str, dict[str, float]], bool]:
    """The server over HTTP, then in-process with and without the Feast lookup, serving ``model_uri``."""
    name, _, version = model_uri.removeprefix("models:/").rpartition("/")
    environment = {**stack.environment(), "MODEL_NAME": name, "MODEL_VERSION": version, "MODEL_URI": model_uri}
    port = free_port()
    log = work / f"model-server-{name}.log"
    command = [sys.executable, "-m", "services.model_server", "--host", "127.0.0.1", "--port", str(port)]
    server_process = start(command, log=log, env=environment, cwd=REPO_ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=300, what="model server", log=log)
        print(f"{model_uri}: model server ready at {url} (load average {os.getloadavg()[0]:.1f})", flush=True)
        server_settings: dict[str, Any] = {key.lower(): value for key, value in environment.items()}
        predictor = open_predictor(ModelServerSettings(**server_settings), ServingMetrics())
        inputs = [predictor.model.model_input(predictor.features.lookup(batch)) for batch in batches]
        with httpx.Client(base_url=url, timeout=10) as client:
            answers: list[Any] = []

            def over_http(batch: list[int]) -> Callable[[], object]:
                return lambda: answers.append(client.post("/predict", json={"entity_ids": batch}).json())

            runs: dict[str, list[Callable[[], object]]] = {
                "server (HTTP + Feast + model)": [over_http(batch) for batch in batches],
                "in-process Feast + model": [partial(predictor.predict, batch) for batch in batches],
                "in-process model only": [partial(predictor.model.predict, rows) for rows in inputs],
            }
            results: dict[str, dict[str, float]] = {}
            for label, calls in runs.items():
                paced(calls[:WARM_UP_CALLS], args.rate)
                results[label] = paced(calls[WARM_UP_CALLS:], args.rate)
                report(label, results[label])
    finally:
        stop(server_process)
    served = [p["prediction"] for answer in answers for p in answer["predictions"]]
    in_process = [value for rows in inputs for value in predictor.model.predict(rows)]
    identical = served == in_process
    print(f"  server predictions identical to in-process: {identical}")
    return results, identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per run (default 3000)")
    parser.add_argument("--batch", type=int, default=1, help="entity ids per request (default 1)")
    parser.add_argument("--entities", type=int, default=1000, help="entities in the online store (default 1000)")
    parser.add_argument("--tracking-uri", help="use this running MLflow server instead of starting one")
    args = parser.parse_args()

    rng = np.random.default_rng(3)
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        work = Path(scratch)
        mlflow_server = None if args.tracking_uri else start_mlflow_server(work)
        tracking_uri = args.tracking_uri if mlflow_server is None else mlflow_server.tracking_uri
        try:
            print(f"building the Feast store ({args.entities} entities) and registering the model ...", flush=True)
            stack = build_serving_stack(work, tracking_uri, args.entities, model_name="bench-risk")
            paths = {"booster": stack.model_uri, "pyfunc": register_pyfunc_model(stack, work, "bench-risk-pyfunc")}
            ids = stack.entity_ids(args.entities)
            batches = [[int(i) for i in rng.choice(ids, args.batch)] for _ in range(args.requests + WARM_UP_CALLS)]
            print(
                f"{args.requests} requests of {args.batch} id(s) at {args.rate:g}/s per figure "
                f"(load average {load_at_start:.1f} on {os.cpu_count()} CPUs)"
            )
            measured = {path: measure(stack, uri, work, batches, args) for path, uri in paths.items()}
        finally:
            if mlflow_server is not None:
                mlflow_server.stop()

    results = {path: figures for path, (figures, _) in measured.items()}
    booster, pyfunc = results["booster"], results["pyfunc"]
    server, with_lookup, model_only = booster.values()
    ratios = {
        "server_p99_over_in_process_with_lookup": server["p99_ms"] / with_lookup["p99_ms"],
        "server_p99_over_model_only": server["p99_ms"] / model_only["p99_ms"],
        "server_p50_over_in_process_with_lookup": server["p50_ms"] / with_lookup["p50_ms"],
        **{
            f"pyfunc_over_booster_{label}_{stat}": pyfunc[run][f"{stat}_ms"] / booster[run][f"{stat}_ms"]
            for run, label in (("server (HTTP + Feast + model)", "server"), ("in-process model only", "model_only"))
            for stat in ("p50", "p99")
        },
    }
    for name, value in ratios.items():
        print(f"  {name} = {value:.2f}")
    met = {
        path: figures["server (HTTP + Feast + model)"]["p99_ms"] <= TARGET_P99_MS for path, figures in results.items()
    }
    for path, path_met in met.items():
        verdict = "met" if path_met else "NOT met"
        print(f"  {path}: target p99 <= {TARGET_P99_MS:g} ms including the Feast lookup: {verdict}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "serving",
                "rate_per_second": args.rate,
                "requests": args.requests,
                "entities_per_request": args.batch,
                "entities_in_store": args.entities,
                "load_average_1m_at_start": load_at_start,
                "load_average_1m_at_end": os.getloadavg()[0],
                "cpu_count": os.cpu_count(),
                "runs": results,
                "ratios": ratios,
                "predictions_identical": {path: identical for path, (_, identical) in measured.items()},
                "target_p99_ms": TARGET_P99_MS,
                "target_met": met,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
