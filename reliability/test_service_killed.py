"""SIGKILL the service three times while Kafka records and webhooks arrive: nothing lost, nothing done twice.

Two streams run at once against one real service process. Signed pushes come
over HTTP from senders that behave like the git hosts: each delivery is
retried until acknowledged, and a fifth of them are delivered a second time
anyway (the host's "redeliver" button, or a lost acknowledgement). Data
notices come over a real Kafka topic the service consumes, produced in
step with the webhooks so both streams are in flight at every kill. Every
push and one notice in a hundred start a workflow on the local Argo Server
stand-in, so each action is countable: every push and notice must end as
exactly one finished ledger event, and each acting one with exactly one
workflow labelled with that event.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools.devstack.service_process import ServiceProcess
from reliability.scoreboard import ScenarioFigures
from reliability.service_stack import (
    NoticeProducer,
    Sender,
    notice_acts,
    notice_key,
    outcome,
    push_key,
    settle,
    write_service_config,
)
from tests.infra.kafka import KafkaBroker
from tests.workflows.argo_server import FakeArgoServer
from triggers.ledger import Ledger

PUSHES = 1_000
REDELIVERED_EVERY = 5
"""Every fifth push is delivered twice: 20 % redeliveries."""
NOTICES = 10_000
NOTICE_CHUNKS = 40
KILLS = 3
SENDERS = 8
PACING_TIMEOUT_SECONDS = 600.0
SETTLE_SECONDS = 1_200.0


def produce_in_step(producer: NoticeProducer, sender: Sender, deliveries: int) -> None:
    """Send the notices in chunks, each once the webhooks have got as far along (waits are bounded)."""
    chunk = NOTICES // NOTICE_CHUNKS
    deadline = time.monotonic() + PACING_TIMEOUT_SECONDS
    for k in range(NOTICE_CHUNKS):
        while sender.acknowledged < k * deliveries // NOTICE_CHUNKS and time.monotonic() < deadline:
            time.sleep(0.05)
        producer.send(range(k * chunk, (k + 1) * chunk))


@pytest.mark.slow
@pytest.mark.timeout(3_000)
def test_sigkill_while_records_and_webhooks_arrive_loses_nothing_and_submits_each_workflow_once(
    tmp_path: Path, kafka_broker: KafkaBroker, argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    topic = f"arrivals-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = write_service_config(tmp_path, argo.url, ledger_url, kafka=kafka_broker, topic=topic)
    service = ServiceProcess.start(config, tmp_path / "service.log")
    sender = Sender([service.url])
    producer = NoticeProducer(kafka_broker, topic)
    deliveries = list(range(PUSHES)) + list(range(0, PUSHES, REDELIVERED_EVERY))
    try:
        notices = threading.Thread(target=produce_in_step, args=(producer, sender, len(deliveries)), name="notices")
        notices.start()
        with ThreadPoolExecutor(SENDERS) as pool:
            sent = [pool.submit(sender.deliver, n) for n in deliveries]
            for kill in range(1, KILLS + 1):
                while sender.acknowledged < kill * len(deliveries) // (KILLS + 1):
                    time.sleep(0.05)
                service.kill()
                killed_at = time.monotonic()
                figures.fault(
                    f"SIGKILL after {sender.acknowledged} acknowledged deliveries and {producer.sent} produced records"
                )
                service.restart()
                figures.recovered_after(time.monotonic() - killed_at)
            for future in sent:
                future.result()
        notices.join(PACING_TIMEOUT_SECONDS)
        figures.events_sent = len(deliveries) + producer.sent
        figures.server_errors = sender.server_errors

        expected = {push_key(n): True for n in range(PUSHES)} | {notice_key(n): notice_acts(n) for n in range(NOTICES)}
        ledger = Ledger.open(ledger_url)
        try:
            settle(ledger, len(expected), SETTLE_SECONDS)
            result = outcome(ledger, argo, expected)
        finally:
            ledger.close()
        figures.lost = result.lost + result.missing_actions
        figures.duplicated = result.duplicated_events + result.duplicated_actions

        assert producer.sent == NOTICES
        assert (result.lost, result.duplicated_events) == (0, 0)
        assert (result.missing_actions, result.duplicated_actions) == (0, 0)
        assert result.acting_events == len(argo.workflows) == sum(expected.values())
        assert sender.server_errors == 0
    finally:
        producer.close()
        service.stop()
