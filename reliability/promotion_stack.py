"""The service promoting models under fault: its configuration, the alias deliveries sent to it, the commits counted.

The promotion scenarios (MLflow down, git remote failing) run ``mlops-gitops
serve`` as a real process with one rule: an MLflow alias moved to a version
of ``churn-xgb`` deploys it through the promotion policy (``champion`` to
production, ``challenger`` to staging). Deliveries are signed the way MLflow
signs them; the outcome is read from the ledger and from the bare GitOps
remote itself, where every bot commit names the event that caused it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from mlflow.tracking import MlflowClient

from devtools.devstack.senders import mlflow_headers
from gitops import lineage
from gitops.checkout import LoggedCommit
from reliability.scoreboard import ScenarioFigures
from tests.gitops.conftest import MODEL_NAME, remote_log
from tests.gitops.repos import BOT
from triggers.ledger import EventState, Ledger
from triggers.ledger.records import ActionRecord

MLFLOW_SECRET = "reliability-mlflow-webhook-secret"
RULES = {
    "version": 1,
    "triggers": [
        {
            "name": "deploy-on-alias",
            "on": ["model.alias.changed"],
            "filters": {"models": [MODEL_NAME], "aliases": ["champion", "challenger"]},
            "action": {"kind": "gitops-promotion"},
        }
    ],
}


def write_promotion_config(
    tmp_path: Path, *, tracking_uri: str, gitops_remote: Path, dispatcher: dict[str, Any], gitops: dict[str, Any]
) -> tuple[Path, str]:
    """The service's config file and its ledger URL; ``dispatcher`` and ``gitops`` add to those groups."""
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(RULES))
    config = {
        "ledger": {"url": ledger_url},
        "rules": {"path": str(rules)},
        "dispatcher": {"poll_interval_seconds": 0.2, **dispatcher},
        "mlflow": {"tracking_uri": tracking_uri},
        "listeners": {"webhooks": {"mlflow": {"secrets": [MLFLOW_SECRET]}}, "registry_watcher": {"enabled": False}},
        # Promotions only: the Argo backend is configured but never called.
        "workflows": {
            "backend": "argo",
            "argo": {"server_url": "http://127.0.0.1:9", "token": "unused", "feast_project": "churn"},
        },
        "gitops": {"repo_url": str(gitops_remote), "work_dir": str(tmp_path / "gitops-checkout"), **gitops},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, ledger_url


def register_versions(tracking_uri: str, count: int) -> dict[str, str]:
    """``churn-xgb`` versions 1..count, each from its own finished run; version -> run id."""
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.create_experiment("reliability-promotions")
    client.create_registered_model(MODEL_NAME)
    run_ids = {}
    for _ in range(count):
        run = client.create_run(experiment)
        client.set_terminated(run.info.run_id)
        created = client.create_model_version(
            MODEL_NAME, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, await_creation_for=0
        )
        run_ids[str(created.version)] = run.info.run_id
    return run_ids


def send_alias_moved(service_url: str, alias: str, version: int, figures: ScenarioFigures) -> str:
    """Deliver MLflow's ``model_version_alias.created`` for ``version``; the id of the event it became."""
    body = json.dumps(
        {
            "entity": "model_version_alias",
            "action": "created",
            "data": {"name": MODEL_NAME, "alias": alias, "version": str(version)},
        }
    ).encode()
    answer = httpx.post(f"{service_url}/webhooks/mlflow", content=body, headers=mlflow_headers(body, MLFLOW_SECRET))
    figures.events_sent += 1
    figures.server_errors += answer.status_code >= 500
    assert answer.status_code == 202, answer.text
    [event_id] = answer.json()["event_ids"]
    return str(event_id)


def promotion_commits(remote: Path) -> list[LoggedCommit]:
    """The bot's promotion commits on the remote's main branch, oldest first (the seed commits carry no trailers)."""
    return [
        commit
        for commit in remote_log(remote)
        if commit.author_email == BOT[1] and lineage.TRIGGER_EVENT_ID in lineage.parse_trailers(commit.message)
    ]


def commits_by_event(remote: Path) -> dict[str, list[str]]:
    """Event id -> the promotion commits (SHAs) it caused."""
    found: dict[str, list[str]] = {}
    for commit in promotion_commits(remote):
        found.setdefault(lineage.parse_trailers(commit.message)[lineage.TRIGGER_EVENT_ID], []).append(commit.sha)
    return found


def wait_for_failed_attempts(ledger: Ledger, event_id: str, attempts: int, timeout: float) -> ActionRecord:
    """The event's action once it has failed ``attempts`` times and waits for its next, backed-off attempt."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = ledger.reads.get(event_id)
        retrying = [a for a in record.actions if a.status == "retrying"] if record is not None else []
        if retrying and retrying[0].state.attempts >= attempts:
            return retrying[0]
        assert record is None or record.state is not EventState.DEAD_LETTERED, record.last_error
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} was not retried {attempts} times: {ledger.reads.get(event_id)}")
