"""Serving latency of the model server at a fixed request rate, against calling the model in-process.

One run stands up a real stack (an ``mlflow server``, a Feast repository with
an sqlite online store, an XGBoost model registered in MLflow), starts
``python -m services.model_server`` under uvicorn on 127.0.0.1 and sends it
POST /predict requests at a fixed rate over one keep-alive connection. The
same entity ids, in the same order and at the same rate, are then run
in-process twice as the baseline:

* in-process with lookup: the server's own ``Predictor.predict`` (Feast online
  lookup + model call), i.e. everything but HTTP;
* in-process model only: the model called on feature rows fetched (and
  arranged as the model's input) before the clock starts.

Latency is measured from each request's scheduled start, so a slow answer
that delays the next request counts against the server (no coordinated
omission). Target: server p99 <= 20 ms including the Feast lookup.

    .venv/bin/python bench/bench_serving.py [--rate 50] [--requests 3000] [--batch 1] [--tracking-uri URI]

Without ``--tracking-uri`` a local ``mlflow server`` is started the way the
tests start it.

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
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.process import free_port, start, stop, wait_until
from services.model_server.metrics import ServingMetrics
from services.model_server.predictor import open_predictor
from services.model_server.settings import ModelServerSettings
from tests.services.serving_stack import build_serving_stack

RESULTS = Path(__file__).with_name("results") / "bench_serving.json"
REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 20.0
WARM_UP_CALLS = 200


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per run (default 3000)")
    parser.add_argument("--batch", type=int, default=1, help="entity ids per request (default 1)")
    parser.add_argument("--entities", type=int, default=1000, help="entities in the online store (default 1000)")
    parser.add_argument("--tracking-uri", help="use this running MLflow server instead of starting one")
    args = parser.parse_args()

    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        work = Path(scratch)
        mlflow_server = None if args.tracking_uri else start_mlflow_server(work)
        tracking_uri = args.tracking_uri or mlflow_server.tracking_uri
        server_process = None
        try:
            print(f"building the Feast store ({args.entities} entities) and registering the model ...", flush=True)
            stack = build_serving_stack(work, tracking_uri, args.entities, model_name="bench-risk")
            ids = stack.entity_ids(args.entities)
            batches = [[int(i) for i in rng.choice(ids, args.batch)] for _ in range(args.requests + WARM_UP_CALLS)]

            port = free_port()
            log = work / "model-server.log"
            command = [sys.executable, "-m", "services.model_server", "--host", "127.0.0.1", "--port", str(port)]
            server_process = start(command, log=log, env=stack.environment(), cwd=REPO_ROOT)
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=300, what="model server", log=log)
            load_at_start = os.getloadavg()[0]
            print(
                f"model server ready at {url}; {args.requests} requests of {args.batch} id(s) at {args.rate:g}/s "
                f"(load average {load_at_start:.1f} on {os.cpu_count()} CPUs)"
            )

            predictor = open_predictor(
                ModelServerSettings(**{name.lower(): value for name, value in stack.environment().items()}),
                ServingMetrics(),
            )
            inputs = [predictor.model.model_input(predictor.features.lookup(batch)) for batch in batches]

            with httpx.Client(base_url=url, timeout=10) as client:
                answers: list[Any] = []

                def over_http(batch: list[int]) -> Callable[[], object]:
                    return lambda: answers.append(client.post("/predict", json={"entity_ids": batch}).json())

                runs: dict[str, list[Callable[[], object]]] = {
                    "server (HTTP + Feast + model)": [over_http(batch) for batch in batches],
                    "in-process Feast + model": [lambda batch=batch: predictor.predict(batch) for batch in batches],
                    "in-process model only": [lambda rows=rows: predictor.model.predict(rows) for rows in inputs],
                }
                results: dict[str, dict[str, float]] = {}
                for label, calls in runs.items():
                    paced(calls[:WARM_UP_CALLS], args.rate)
                    results[label] = paced(calls[WARM_UP_CALLS:], args.rate)
                    report(label, results[label])

            served = [p["prediction"] for answer in answers for p in answer["predictions"]]
            in_process = [value for rows in inputs for value in predictor.model.predict(rows)]
            identical = served == in_process
            print(f"  server predictions identical to in-process: {identical}")
        finally:
            if server_process is not None:
                stop(server_process)
            if mlflow_server is not None:
                mlflow_server.stop()

    server, with_lookup, model_only = results.values()
    ratios = {
        "server_p99_over_in_process_with_lookup": server["p99_ms"] / with_lookup["p99_ms"],
        "server_p99_over_model_only": server["p99_ms"] / model_only["p99_ms"],
        "server_p50_over_in_process_with_lookup": server["p50_ms"] / with_lookup["p50_ms"],
    }
    for name, value in ratios.items():
        print(f"  {name} = {value:.2f}")
    met = server["p99_ms"] <= TARGET_P99_MS
    print(f"  target p99 <= {TARGET_P99_MS:g} ms including the Feast lookup: {'met' if met else 'NOT met'}")
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
                "predictions_identical": identical,
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
