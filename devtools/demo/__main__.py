"""Run the demo: ``python -m devtools.demo`` (what ``make demo`` runs)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from mlflow import MlflowClient

from devtools.demo.timeline import print_timeline
from devtools.demo.workspace import BUCKET, DATASET_PATH, MLFLOW_SECRET, MODEL, Scenario, Workspace, init_bare_repo
from devtools.demo.world import World, last_registered_version, last_training
from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.service_process import ServiceProcess

ROOT = Path("demo-work").resolve()


def say(line: str) -> None:
    print(line, flush=True)


def step(number: int, title: str) -> None:
    say(f"\n== {number}/6 {title}")


def main() -> None:
    started = time.monotonic()
    step(1, "Workspace: mlflow server, git remotes, raw data")
    shutil.rmtree(ROOT, ignore_errors=True)
    mlflow = MlflowServer.start(ROOT / "mlflow")
    try:
        workspace = Workspace.create(
            ROOT,
            mlflow,
            ml_remote=init_bare_repo(ROOT / "remotes" / "churn-model.git"),
            gitops_remote=init_bare_repo(ROOT / "remotes" / "gitops.git"),
            scenario=Scenario(),
        )
        run_flows(workspace, started)
    finally:
        mlflow.stop()


def run_flows(workspace: Workspace, started: float) -> None:
    say(
        f"mlflow server {workspace.mlflow.tracking_uri}; ML code repo {workspace.ml_remote}; "
        f"GitOps repo {workspace.gitops_remote}"
    )
    say(
        f"raw data in {workspace.dataset_dir}: history {', '.join(workspace.history)}; "
        f"still to arrive {', '.join(workspace.arrivals)}"
    )
    service: ServiceProcess | None = None
    try:
        step(2, "Bootstrap the feature store: feast apply, then ETL of the history")
        workspace.bootstrap_feature_store()

        say("starting mlops-gitops serve ...")
        service = ServiceProcess.start(workspace.config, workspace.root / "service.log")
        say(f"service ready at {service.url} (log: {service.log})")
        MlflowClient(workspace.mlflow.tracking_uri).create_webhook(
            name="mlops-gitops",
            url=f"{service.url}/webhooks/mlflow",
            events=["model_version.created", "model_version_alias.created", "model_version_alias.deleted"],
            secret=MLFLOW_SECRET,
        )
        say("MLflow will deliver signed registry webhooks to the service")
        world = World(workspace, service.url, say)

        step(3, "Flow 1: a push of new feature engineering retrains the pushed code at that commit")
        pushed = world.push_code_change()
        first = world.wait_settled([pushed], "push event")
        version = last_registered_version(first)
        trained = last_training(first)
        if trained is not None:
            say(f"MLflow run {trained['run_id']} trained commit {trained['training_commit'][:12]} on features:")
            say("    " + ", ".join(trained["features"]))
        say(f"registered {MODEL} version {version}")

        step(4, f"Flow 2: new partitions land in {BUCKET}/{DATASET_PATH}: ETL, then retraining (debounced)")
        arrived = world.notify_new_partitions()
        second = world.wait_settled(arrived, "data events")
        version = last_registered_version(second) or version
        say(f"{len(arrived)} notices became one ETL + retrain; registered {MODEL} version {version}")

        step(5, f"Flow 3: {MODEL} version {version} is promoted to Production in MLflow")
        before, _ = world.gitops_head()
        if version is None:
            raise RuntimeError("no model version was registered; see the service log")
        world.promote_to_production(version)
        sha, message = world.wait_for_gitops_commit(before)
        say(f"GitOps repo main is now {sha[:12]}:\n" + "\n".join(f"    {line}" for line in message.splitlines()))

        step(6, "Event timeline")
        time.sleep(3)
        print_timeline(world.events(), say)
        world.close()
        say(f"\ndone in {time.monotonic() - started:.0f}s; everything is under {workspace.root}")
    finally:
        if service is not None:
            service.stop()


if __name__ == "__main__":
    main()
