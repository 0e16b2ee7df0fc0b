"""The whole service as a real process: an acknowledged event survives SIGKILL and is acted on once.

The service runs ``mlops-gitops serve`` with the Argo backend pointed at the
local Argo Server stand-in, so "acted on" is a workflow the server really
received. The kill lands right after the 202, before the dispatcher can be
sure to have finished; after the restart the event must be in the ledger,
done, with exactly one workflow submitted for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.devstack.senders import github_headers
from devtools.devstack.service_process import ServiceProcess
from tests.workflows.argo_server import FakeArgoServer
from triggers.ledger import EventState, Ledger

SECRET = "crash-test-github-secret"
TOKEN = "crash-test-argo-token"
RULES = {
    "version": 1,
    "triggers": [
        {
            "name": "retrain-on-push",
            "on": ["git.push"],
            "filters": {"branches": ["main"]},
            "action": {
                "kind": "workflow",
                "pipeline": "retrain",
                "params": {"repo_url": "{{ data.clone_url }}", "commit": "{{ data.after }}", "model_name": "churn-xgb"},
            },
        }
    ],
}


@pytest.fixture
def argo() -> Iterator[FakeArgoServer]:
    server = FakeArgoServer(TOKEN).start()
    server.status_on_create = {"phase": "Succeeded"}
    yield server
    server.stop()


def write_config(tmp_path: Path, argo_url: str) -> tuple[Path, str]:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(RULES))
    config = {
        "ledger": {"url": ledger_url},
        "rules": {"path": str(rules)},
        # The dispatcher wakes when an event is stored, so the killed process may already hold the event's lease:
        # a short one lets the restarted process take it over well within the test's wait.
        "dispatcher": {"poll_interval_seconds": 0.2, "backoff_initial_seconds": 0.5, "lease_seconds": 5},
        "listeners": {"webhooks": {"github": {"secrets": [SECRET]}}, "registry_watcher": {"enabled": False}},
        "workflows": {
            "backend": "argo",
            "argo": {"server_url": argo_url, "token": TOKEN, "namespace": "mlops", "feast_project": "churn"},
            "code_repos": ["https://github.com/acme/churn-model.git"],
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, ledger_url


def push_payload() -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "1" * 40,
            "after": "2" * 40,
            "created": False,
            "deleted": False,
            "forced": False,
            "commits": [
                {"id": "2" * 40, "message": "tune depth", "added": [], "modified": ["configs/x.yaml"], "removed": []}
            ],
            "repository": {
                "full_name": "acme/churn-model",
                "clone_url": "https://git.example.com/acme/churn-model.git",
            },
            "pusher": {"name": "dev"},
        }
    ).encode()


def wait_for_state(ledger: Ledger, event_id: str, state: EventState, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = ledger.reads.get(event_id)
        if record is not None and record.state is state:
            return
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} never reached {state}: {ledger.reads.get(event_id)}")


@pytest.mark.slow
def test_an_acknowledged_push_survives_sigkill_and_starts_one_workflow(tmp_path: Path, argo: FakeArgoServer) -> None:
    config, ledger_url = write_config(tmp_path, argo.url)
    service = ServiceProcess.start(config, tmp_path / "service.log")
    try:
        body = push_payload()
        headers = github_headers(body, SECRET, delivery="delivery-crash-1")
        acked = httpx.post(f"{service.url}/webhooks/github", content=body, headers=headers, timeout=10)
        service.kill()
        assert acked.status_code == 202, acked.text
        [event_id] = acked.json()["event_ids"]

        service.restart()
        ledger = Ledger.open(ledger_url)
        wait_for_state(ledger, event_id, EventState.DONE)

        again = httpx.post(f"{service.url}/webhooks/github", content=body, headers=headers, timeout=10)
        assert again.status_code == 200 and again.json()["duplicate"] is True

        record = ledger.reads.get(event_id)
        assert record is not None
        assert [r.event.id for r in ledger.reads.list_events()] == [event_id]
        assert len(record.actions) == 1 and record.actions[0].status == "succeeded"
        assert list(argo.workflows) == [("mlops", record.actions[0].target)]
        labels = argo.workflows[("mlops", record.actions[0].target)]["metadata"]["labels"]
        assert event_id in labels.values()
    finally:
        service.stop()


@pytest.mark.slow
def test_sigusr1_writes_every_threads_stack_and_the_service_keeps_serving(tmp_path: Path, argo: FakeArgoServer) -> None:
    config, _ = write_config(tmp_path, argo.url)
    service = ServiceProcess.start(config, tmp_path / "service.log")
    try:
        dump = service.dump_stacks()
        assert "Thread 0x" in dump, dump[-2000:]
        assert "in run_forever" in dump, "the dispatcher loop's stack must be in the dump"
        assert httpx.get(f"{service.url}/healthz", timeout=10).status_code == 200
    finally:
        service.stop()
