"""SIGKILL the service three times while webhooks arrive: nothing lost, nothing done twice.

Senders behave like the git hosts: each delivery is retried until it is
acknowledged, and a fifth of them are delivered a second time anyway (the
host's "redeliver" button, or a lost acknowledgement). The service runs as a
real process with its Argo backend on the local Argo Server stand-in, so each
workflow the dispatcher submits is countable. Every push must end as exactly
one ledger event, done, with exactly one workflow labelled with that event.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mlops_gitops.devstack.senders import github_headers
from mlops_gitops.devstack.service_process import ServiceProcess
from reliability.scoreboard import ScenarioFigures
from tests.service.test_crash_recovery import SECRET, TOKEN, push_payload, write_config
from tests.workflows.argo_server import FakeArgoServer
from triggers.ledger import EventState, Ledger

PUSHES = 1_000
REDELIVERED_EVERY = 5
"""Every fifth push is delivered twice: 20 % redeliveries."""
KILLS = 3
SENDERS = 8
SEND_ATTEMPTS = 200
SETTLE_SECONDS = 900.0


@pytest.fixture
def argo() -> Iterator[FakeArgoServer]:
    server = FakeArgoServer(TOKEN).start()
    server.status_on_create = {"phase": "Succeeded"}
    yield server
    server.stop()


class Sender:
    """Delivers each push until acknowledged, counting acknowledgements and server errors."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acknowledged = 0
        self.server_errors = 0
        self._lock = threading.Lock()

    def deliver(self, delivery_id: str, body: bytes) -> None:
        headers = github_headers(body, SECRET, delivery=delivery_id)
        for _ in range(SEND_ATTEMPTS):
            try:
                answer = httpx.post(f"{self.url}/webhooks/github", content=body, headers=headers, timeout=10)
            except httpx.TransportError:
                time.sleep(0.2)  # the service is down; a real sender retries later too
                continue
            if answer.status_code < 300:
                with self._lock:
                    self.acknowledged += 1
                return
            with self._lock:
                self.server_errors += answer.status_code >= 500
            time.sleep(0.2)
        raise AssertionError(f"delivery {delivery_id} never acknowledged")


def push_body(n: int) -> bytes:
    payload = json.loads(push_payload())
    payload["after"] = f"{n + 1:040x}"
    payload["commits"][0]["id"] = payload["after"]
    return json.dumps(payload).encode()


def settle(ledger: Ledger, expected: int) -> list[str]:
    """Wait (bounded) until the dispatcher has finished every event; the ids of those not done."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        records = ledger.list_events(limit=expected * 2)
        pending = [r.event.id for r in records if r.state is not EventState.DONE]
        if (len(records) >= expected and not pending) or time.monotonic() > deadline:
            return pending
        time.sleep(1)


@pytest.mark.slow
def test_sigkill_while_webhooks_arrive_loses_nothing_and_submits_each_workflow_once(
    tmp_path: Path, argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    config, ledger_url = write_config(tmp_path, argo.url)
    service = ServiceProcess.start(config, tmp_path / "service.log")
    sender = Sender(service.url)
    deliveries = [(f"push-{n}", push_body(n)) for n in range(PUSHES)]
    deliveries += [deliveries[n] for n in range(0, PUSHES, REDELIVERED_EVERY)]
    try:
        with ThreadPoolExecutor(SENDERS) as pool:
            sent = [pool.submit(sender.deliver, delivery_id, body) for delivery_id, body in deliveries]
            for kill in range(1, KILLS + 1):
                while sender.acknowledged < kill * len(deliveries) // (KILLS + 1):
                    time.sleep(0.05)
                service.kill()
                killed_at = time.monotonic()
                figures.fault(f"SIGKILL after {sender.acknowledged} acknowledged deliveries")
                service.restart()
                service.wait_ready()
                figures.recovered_after(time.monotonic() - killed_at)
            for future in sent:
                future.result()
        figures.events_sent = len(deliveries)
        figures.server_errors = sender.server_errors

        ledger = Ledger.open(ledger_url)
        try:
            not_done = settle(ledger, PUSHES)
            records = ledger.list_events(limit=PUSHES * 2)
        finally:
            ledger.close()
        per_key = Counter(r.event.idempotency_key for r in records)
        figures.lost = PUSHES - len(per_key) + len(not_done)
        workflows_per_event = Counter(
            event_id for workflow in argo.workflows.values() for event_id in workflow["metadata"]["labels"].values()
        )
        event_ids = {r.event.id for r in records}
        submitted = Counter({e: n for e, n in workflows_per_event.items() if e in event_ids})
        figures.duplicated = sum(n - 1 for n in per_key.values()) + sum(n - 1 for n in submitted.values())

        assert not_done == []
        assert len(per_key) == PUSHES and set(per_key.values()) == {1}
        assert set(submitted) == event_ids and set(submitted.values()) == {1}
        assert len(argo.workflows) == PUSHES
        assert sender.server_errors == 0
    finally:
        service.stop()
