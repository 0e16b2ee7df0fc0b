"""The service under fault: its configuration, the traffic sent to it, and how its outcome is counted.

The service-level scenarios (SIGKILL, broker restart, PostgreSQL restart)
all run ``mlops-gitops serve`` as real processes with the Argo backend on the
local Argo Server stand-in, feed them signed pushes over HTTP and data
notices over a real Kafka topic, and judge the run the same way: every event
sent is in the ledger exactly once and finished (done, or ignored by the
rules' filter), and every event a rule acts on reached the Argo Server as
exactly one workflow (a workflow's name is derived from its action key, and
its labels name the event that started it). Every push acts; one notice in
a hundred does, so that workflow submissions do not dominate the run on a
shared laptop, while every record still goes through intake, ledger and rules.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import yaml
from kafka import KafkaProducer

from devtools.devstack.senders import github_headers
from listeners.sources.git_push import push_key as git_push_key
from tests.infra.kafka import KafkaBroker
from tests.service.test_crash_recovery import RULES, SECRET, TOKEN, push_payload
from tests.workflows.argo_server import FakeArgoServer
from triggers.ledger import EventState, Ledger
from triggers.ledger.records import TERMINAL
from workflows.backend import EVENT_ID_LABEL

DATASETS = 100
ACTING_DATASET = "churn/table0"
"""Notices of this one dataset (one in ``DATASETS``) start a workflow; the rule's filter ignores the rest."""
DATA_RULE = {
    "name": "etl-on-data",
    "on": ["data.arrived"],
    "filters": {"datasets": [ACTING_DATASET]},
    "action": {
        "kind": "workflow",
        "pipeline": "data-etl",
        "params": {
            "dataset": "{{ data.dataset }}",
            "source_uri": "s3://raw-data/{{ data.dataset }}",
            "partitions": "{{ events | map(attribute='data.partition') | list }}",
        },
    },
}
SEND_ATTEMPTS = 200
RETRY_PAUSE_SECONDS = 0.2


def write_service_config(
    tmp_path: Path, argo_url: str, ledger_url: str, *, kafka: KafkaBroker | None = None, topic: str = ""
) -> Path:
    """A config where pushes, and notices on ``topic`` of the acting dataset (when ``kafka`` is given), act."""
    push_rules = cast(list[dict[str, Any]], RULES["triggers"])
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({**RULES, "triggers": [*push_rules, DATA_RULE]}))
    listeners: dict[str, Any] = {
        "webhooks": {"github": {"secrets": [SECRET]}},
        "registry_watcher": {"enabled": False},
    }
    if kafka is not None:
        listeners["kafka"] = {
            "enabled": True,
            "bootstrap_servers": [kafka.bootstrap_servers],
            "topics": [topic],
            "group_id": f"service-{topic}",
            "max_poll_records": 500,
        }
    config = {
        "ledger": {"url": ledger_url},
        "rules": {"path": str(rules)},
        # A dispatcher woken on store may hold events' leases at a SIGKILL: a short lease lets the restarted
        # process take them over well within the scenario's wait.
        "dispatcher": {
            "poll_interval_seconds": 0.2,
            "backoff_initial_seconds": 0.5,
            "batch_size": 50,
            "lease_seconds": 5,
        },
        "listeners": listeners,
        "workflows": {
            "backend": "argo",
            "argo": {"server_url": argo_url, "token": TOKEN, "namespace": "mlops", "feast_project": "churn"},
            "code_repos": ["https://github.com/acme/churn-model.git"],
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def push_body(n: int) -> bytes:
    """The n-th distinct push: its own head commit, so its own event and its own workflow."""
    payload = json.loads(push_payload())
    payload["after"] = f"{n + 1:040x}"
    payload["commits"][0]["id"] = payload["after"]
    return json.dumps(payload).encode()


def push_key(n: int) -> str:
    payload = json.loads(push_body(n))
    return git_push_key("github", "acme/churn-model", payload["ref"], payload["before"], payload["after"])


def notice_body(n: int) -> bytes:
    return json.dumps({"id": f"notice-{n}", "dataset": f"churn/table{n % DATASETS}", "partition": f"n={n}"}).encode()


def notice_key(n: int) -> str:
    return f"json:notice-{n}"


def notice_acts(n: int) -> bool:
    return n % DATASETS == 0


class Sender:
    """Delivers each push like a git host: retried until acknowledged, counting acknowledgements and 5xx answers.

    With several service URLs, deliveries go to them in turn, as a load balancer in front of replicas would.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self.acknowledged = 0
        self.server_errors = 0
        self._lock = threading.Lock()

    def deliver(self, n: int) -> None:
        body = push_body(n)
        headers = github_headers(body, SECRET, delivery=f"push-{n}")
        for attempt in range(SEND_ATTEMPTS):
            url = self.urls[(n + attempt) % len(self.urls)]
            try:
                answer = httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=10)
            except httpx.TransportError:
                time.sleep(RETRY_PAUSE_SECONDS)  # the service is down; a real sender retries later too
                continue
            if answer.status_code < 300:
                with self._lock:
                    self.acknowledged += 1
                return
            with self._lock:
                self.server_errors += answer.status_code >= 500
            time.sleep(RETRY_PAUSE_SECONDS)
        raise AssertionError(f"push {n} never acknowledged")


class NoticeProducer:
    """Produces data notices to a real topic, acknowledged by every in-sync replica, counting what was sent."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self.topic = topic
        self.sent = 0
        self._producer = KafkaProducer(
            bootstrap_servers=broker.bootstrap_servers,
            acks="all",
            linger_ms=20,
            retries=2**31 - 1,
            delivery_timeout_ms=300_000,
            request_timeout_ms=10_000,
            reconnect_backoff_max_ms=1_000,
        )

    def send(self, numbers: range) -> None:
        """Send and wait until the broker has them all: a notice the producer saw acknowledged must not be lost."""
        futures = [self._producer.send(self.topic, value=notice_body(n), key=str(n).encode()) for n in numbers]
        self._producer.flush()
        for future in futures:
            future.get(timeout=300)
        self.sent += len(numbers)

    def close(self) -> None:
        self._producer.close()


def settle(ledger: Ledger, expected: int, timeout_seconds: float) -> dict[str, int]:
    """Wait (bounded) until the ledger holds ``expected`` events, all finished; the counts by state."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        counts = ledger.reads.count_by_state()
        finished = sum(counts.get(state.value, 0) for state in TERMINAL)
        if finished >= expected or time.monotonic() > deadline:
            return counts
        time.sleep(1)


@dataclass(frozen=True)
class Outcome:
    """What became of the events sent, counted against the ledger and the Argo Server's workflows."""

    lost: int
    """Keys sent that are not in the ledger, or in it but not finished as expected."""
    duplicated_events: int
    """Keys stored more than once."""
    missing_actions: int
    """Events that should have started a workflow but did not."""
    duplicated_actions: int
    """Workflows beyond one per acting event, and workflows of events that should have started none."""
    acting_events: int


def outcome(ledger: Ledger, argo: FakeArgoServer, expected: Mapping[str, bool]) -> Outcome:
    """Count ``expected`` (idempotency key: whether its event starts a workflow) against what happened."""
    with ledger.database.engine.connect() as connection:
        rows = list(connection.exec_driver_sql("SELECT idempotency_key, id, state FROM events"))
    per_key = Counter(key for key, _, _ in rows)
    finished_as_expected = {
        key
        for key, _, state in rows
        if state == (EventState.DONE.value if expected.get(key) else EventState.IGNORED.value)
    }
    acting = {event_id for key, event_id, _ in rows if expected.get(key)}
    workflows_per_event = Counter(w["metadata"]["labels"][EVENT_ID_LABEL] for w in argo.workflows.values())
    return Outcome(
        lost=len(expected.keys() - finished_as_expected),
        duplicated_events=sum(n - 1 for n in per_key.values()),
        missing_actions=len(acting - set(workflows_per_event)),
        duplicated_actions=sum(n - (event_id in acting) for event_id, n in workflows_per_event.items()),
        acting_events=len(acting),
    )
