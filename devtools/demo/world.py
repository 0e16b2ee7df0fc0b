"""The outside world of the demo: a developer pushing, a bucket notifying, a reviewer promoting.

Each sender speaks its real dialect: a GitHub push webhook built from the real
push and signed with the repo's secret, MinIO/S3 bucket notifications with a
bearer token, and MLflow's own client moving a version to ``Production``.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from mlflow import MlflowClient

from devtools.demo.workspace import (
    BUCKET,
    DATA_TOKEN,
    DATASET_PATH,
    GITHUB_SECRET,
    MODEL_PATH,
    PARAMS_PATH,
    READ_TOKEN,
    REPO,
    Workspace,
    add_derived_feature,
)
from devtools.devstack.git_payloads import describe_push, git, github_payload
from devtools.devstack.senders import github_headers

Say = Callable[[str], None]


class World:
    def __init__(self, workspace: Workspace, service_url: str, say: Say) -> None:
        self._ws = workspace
        self._url = service_url
        self._say = say
        self._http = httpx.Client(base_url=service_url, timeout=30)
        self._status = {"Authorization": f"Bearer {READ_TOKEN}"}

    def close(self) -> None:
        self._http.close()

    # -- flow 1 -------------------------------------------------------------------------

    def push_code_change(self) -> str:
        """Commit a derived feature in the model class and the new parameters, push, and deliver GitHub's webhook."""
        clone, scenario = self._ws.ml_clone, self._ws.scenario
        (clone / PARAMS_PATH).write_text(scenario.pushed_params)
        (clone / MODEL_PATH).write_text(add_derived_feature((clone / MODEL_PATH).read_text()))
        before = git(clone, "rev-parse", "HEAD")
        git(clone, "commit", "-q", "-am", scenario.push_message)
        git(clone, "push", "-q", "origin", "main")
        after = git(clone, "rev-parse", "HEAD")
        payload = github_payload(describe_push(self._ws.ml_remote, REPO, "refs/heads/main", before, after))
        body = json.dumps(payload).encode()
        answer = self._http.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET))
        answer.raise_for_status()
        self._say(f"pushed {after[:12]} to {REPO}@main; GitHub webhook answered {answer.status_code}")
        return str(answer.json()["event_ids"][0])

    # -- flow 2 -------------------------------------------------------------------------

    def notify_new_partitions(self) -> list[str]:
        """Send one bucket notification per new object, twice each as S3 does on retries, in a quick burst."""
        ids: list[str] = []
        for partition in self._ws.arrivals:
            key = f"{DATASET_PATH}/{partition}/part-0.csv"
            size = (self._ws.dataset_dir / partition / "part-0.csv").stat().st_size
            notice = _s3_notification(key, size)
            for _ in range(2):
                answer = self._http.post(
                    "/webhooks/data", json=notice, headers={"Authorization": f"Bearer {DATA_TOKEN}"}
                )
                answer.raise_for_status()
                ids.extend(answer.json().get("event_ids", []))
                self._say(f"  s3:ObjectCreated:Put {BUCKET}/{key} -> {answer.status_code} {answer.json()}")
                time.sleep(0.3)
        return list(dict.fromkeys(ids))

    # -- flow 3 -------------------------------------------------------------------------

    def promote_to_production(self, version: str) -> None:
        client, model = MlflowClient(self._ws.mlflow.tracking_uri), self._ws.scenario.model_name
        with warnings.catch_warnings():  # stages are deprecated upstream but still how many teams promote
            warnings.simplefilter("ignore", FutureWarning)
            client.transition_model_version_stage(model, version, "Production")
        self._say(f"MLflow: {model} version {version} moved to Production")

    # -- reading the service ------------------------------------------------------------

    def event(self, event_id: str) -> dict[str, Any]:
        answer = self._http.get(f"/events/{event_id}", headers=self._status)
        answer.raise_for_status()
        return dict(answer.json())

    def events(self) -> list[dict[str, Any]]:
        answer = self._http.get("/events", params={"limit": 200}, headers=self._status)
        answer.raise_for_status()
        return list(answer.json()["events"])

    def wait_settled(self, event_ids: list[str], what: str, timeout: float = 1800) -> list[dict[str, Any]]:
        """Wait until every event is finished and none of its actions still runs, printing each change."""
        deadline, seen = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            records = [self.event(event_id) for event_id in event_ids]
            summary = "; ".join(_describe(r) for r in records)
            if summary != seen:
                self._say(f"  [{datetime.now(UTC):%H:%M:%S}] {what}: {summary}")
                seen = summary
            if all(_settled(r) for r in records):
                return records
            time.sleep(2)
        raise TimeoutError(f"{what} did not settle in {timeout:.0f}s; see the service log")

    def gitops_head(self) -> tuple[str, str]:
        sha = git(self._ws.gitops_remote, "rev-parse", "main")
        return sha, git(self._ws.gitops_remote, "show", "-s", "--format=%an <%ae>%n%n%B", sha)

    def wait_for_gitops_commit(self, after_sha: str, timeout: float = 300) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sha, message = self.gitops_head()
            if sha != after_sha:
                return sha, message
            time.sleep(1)
        raise TimeoutError("no commit reached the GitOps repo; see the service log")


def _s3_notification(key: str, size: int) -> dict[str, Any]:
    """The shape MinIO sends to a webhook target (AWS omits the top-level EventName and Key)."""
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{BUCKET}/{key}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "eventName": "s3:ObjectCreated:Put",
                "eventTime": datetime.now(UTC).isoformat(),
                "s3": {
                    "bucket": {"name": BUCKET},
                    "object": {"key": key, "size": size, "eTag": uuid.uuid4().hex, "sequencer": uuid.uuid4().hex[:16]},
                },
            }
        ],
    }


def _settled(record: dict[str, Any]) -> bool:
    finished = record["state"] in {"done", "ignored", "dead_lettered"}
    return finished and all(a["status"] not in {"running", "pending", "waiting"} for a in record["actions"])


def _describe(record: dict[str, Any]) -> str:
    """Actions and their statuses; the event's own state only once it is final (it cycles while runs go on)."""
    actions = ", ".join(f"{a['target'] or a['action_key']} {a['status']}" for a in record["actions"])
    state = record["state"] if record["state"] in {"done", "ignored", "dead_lettered"} else "in progress"
    return f"{state}" + (f" [{actions}]" if actions else "")


def last_training(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The outputs of the last ``train`` step among the events' runs: run id, features, commit."""
    trained = [
        a["detail"]["outputs"]["train"]
        for r in records
        for a in r["actions"]
        if a.get("detail", {}).get("outputs", {}).get("train")
    ]
    return trained[-1] if trained else None


def last_registered_version(records: list[dict[str, Any]]) -> str | None:
    versions = [
        str(a["detail"]["outputs"]["register"]["model_version"])
        for r in records
        for a in r["actions"]
        if a.get("detail", {}).get("outputs", {}).get("register", {}).get("model_version")
    ]
    return versions[-1] if versions else None
