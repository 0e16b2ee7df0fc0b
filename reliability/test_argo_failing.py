"""Argo Server failing under the running service: retried, dead-lettered after N attempts, done on replay.

The service runs as a real process (``mlops-gitops serve``) with its Argo
backend pointed at the local Argo Server stand-in. First every request gets a
5xx: the dispatcher must retry the action with backoff and, after its retries,
dead-letter the event without any workflow having been created. Then the
admin replays it while the stand-in answers slowly enough for the client to
time out (the server still creates the workflow behind the client's back),
so the retry meets a workflow that already exists: the event must end done
with exactly one workflow submitted.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.devstack.senders import github_headers
from devtools.devstack.service_process import ServiceProcess
from reliability.scoreboard import ScenarioFigures
from tests.service.test_crash_recovery import SECRET, push_payload, wait_for_state, write_config
from tests.workflows.argo_server import FakeArgoServer, Fault
from triggers.ledger import EventState, Ledger

MAX_ATTEMPTS = 3
ADMIN_TOKEN = "reliability-admin-token"
REQUEST_TIMEOUT_SECONDS = 1.0
SERVER_ERRORS = (500, 502, 503, 504)
FAILING_REQUESTS = 200
"""More 5xx answers queued than the dispatcher's attempts can use, whatever retries the client adds."""


def failing_fast_config(tmp_path: Path, argo_url: str) -> tuple[Path, str]:
    path, ledger_url = write_config(tmp_path, argo_url)
    config = yaml.safe_load(path.read_text())
    config["dispatcher"].update(action_retries=MAX_ATTEMPTS - 1, backoff_initial_seconds=0.2, backoff_max_seconds=0.5)
    config["workflows"]["argo"]["request_timeout_seconds"] = REQUEST_TIMEOUT_SECONDS
    config["server"] = {"admin_tokens": [ADMIN_TOKEN]}
    path.write_text(yaml.safe_dump(config))
    return path, ledger_url


@pytest.mark.slow
def test_failing_argo_is_retried_dead_lettered_and_done_on_replay(
    tmp_path: Path, argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    config, ledger_url = failing_fast_config(tmp_path, argo.url)
    argo.faults.extend(Fault(SERVER_ERRORS[n % len(SERVER_ERRORS)]) for n in range(FAILING_REQUESTS))
    service = ServiceProcess.start(config, tmp_path / "service.log")
    ledger = Ledger.open(ledger_url)
    try:
        body = push_payload()
        answer = httpx.post(
            f"{service.url}/webhooks/github", content=body, headers=github_headers(body, SECRET), timeout=10
        )
        figures.events_sent += 1
        figures.server_errors += answer.status_code >= 500
        assert answer.status_code == 202, answer.text
        [event_id] = answer.json()["event_ids"]

        wait_for_state(ledger, event_id, EventState.DEAD_LETTERED)
        dead = ledger.reads.get(event_id)
        assert dead is not None and dead.last_error
        assert [(a.status, a.state.attempts) for a in dead.actions] == [("failed", MAX_ATTEMPTS)]
        assert argo.workflows == {}
        figures.fault(f"{FAILING_REQUESTS - len(argo.faults)} Argo Server answers of 5xx")

        argo.faults.clear()
        argo.faults.extend([Fault(delay_seconds=REQUEST_TIMEOUT_SECONDS * 2)] * 2)
        figures.fault("2 Argo Server answers slower than the client's time-out")
        replayed_at = time.monotonic()
        replay = httpx.post(
            f"{service.url}/events/{event_id}/replay",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        assert replay.status_code == 202, replay.text
        wait_for_state(ledger, event_id, EventState.DONE)
        figures.recovered_after(time.monotonic() - replayed_at)

        done = ledger.reads.get(event_id)
        assert done is not None
        # A replay is a new generation of the action (its key counts replays); only that one submitted anything.
        succeeded = [a for a in done.actions if a.status == "succeeded"]
        figures.duplicated += max(0, len(argo.workflows) - 1)
        figures.lost += 0 if len(argo.workflows) == 1 else 1
        assert len(succeeded) == 1 and done.actions[-1] == succeeded[0]
        assert list(argo.workflows) == [("mlops", succeeded[0].target)]
    finally:
        ledger.close()
        service.stop()
