"""Restart the Kafka broker in the middle of the stream: every record produced is in the ledger exactly once.

The service consumes a real topic while the producer keeps sending; half-way
the broker process is stopped and started again on the same port and data
directory. The producer retries what the broker did not acknowledge (so the
topic may hold a record twice), the consumer reconnects and reads again
from its last committed offsets (so it may see a record twice): the ledger's
idempotency keys must turn all of it into one finished event per notice,
and each notice a rule acts on into one workflow on the local Argo Server
stand-in.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.devstack.service_process import ServiceProcess
from reliability.scoreboard import ScenarioFigures
from reliability.service_stack import NoticeProducer, notice_acts, notice_key, outcome, settle, write_service_config
from tests.infra.kafka import KafkaBroker
from tests.workflows.argo_server import FakeArgoServer
from triggers.ledger import Ledger

NOTICES = 4_000
CHUNKS = 40
CHUNK_PAUSE_SECONDS = 0.2
RECOVERY_TIMEOUT_SECONDS = 300.0
SETTLE_SECONDS = 600.0


def produce_in_chunks(producer: NoticeProducer, restarting: threading.Event) -> None:
    """The first half of the stream, then (once the restart begins) the second half, into the outage."""
    chunk = NOTICES // CHUNKS
    for k in range(CHUNKS):
        if k == CHUNKS // 2:
            restarting.wait(RECOVERY_TIMEOUT_SECONDS)
        producer.send(range(k * chunk, (k + 1) * chunk))
        time.sleep(CHUNK_PAUSE_SECONDS)


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {RECOVERY_TIMEOUT_SECONDS} s of the broker restart")
        time.sleep(0.2)


def stored(ledger: Ledger, key: str) -> bool:
    with ledger.database.engine.connect() as connection:
        return connection.exec_driver_sql("SELECT 1 FROM events WHERE idempotency_key = ?", (key,)).first() is not None


@pytest.mark.slow
@pytest.mark.timeout(1_200)
def test_broker_restart_mid_stream_loses_no_record_and_records_each_once(
    tmp_path: Path, kafka_broker: KafkaBroker, argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    topic = f"arrivals-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = write_service_config(tmp_path, argo.url, ledger_url, kafka=kafka_broker, topic=topic)
    service = ServiceProcess.start(config, tmp_path / "service.log")
    producer = NoticeProducer(kafka_broker, topic)
    ledger = Ledger.open(ledger_url)
    try:
        restarting = threading.Event()
        producing = threading.Thread(target=produce_in_chunks, args=(producer, restarting), name="notices")
        producing.start()
        wait_until(lambda: producer.sent >= NOTICES // 2, "half of the stream")
        restarted_at = time.monotonic()
        restarting.set()
        # In this thread: the broker is started with a parent-death signal, which follows the starting thread.
        kafka_broker.restart()
        figures.fault(f"Kafka broker stopped and started again; {producer.sent} records acknowledged when it was back")
        sent_before_return = producer.sent
        wait_until(
            lambda: producer.sent > sent_before_return or producer.sent == NOTICES,
            "a record acknowledged by the restarted broker",
        )
        last_after_restart = notice_key(producer.sent - 1)
        wait_until(lambda: stored(ledger, last_after_restart), "a record produced after the restart in the ledger")
        figures.recovered_after(time.monotonic() - restarted_at)
        producing.join(SETTLE_SECONDS)
        figures.events_sent = producer.sent

        expected = {notice_key(n): notice_acts(n) for n in range(NOTICES)}
        settle(ledger, NOTICES, SETTLE_SECONDS)
        result = outcome(ledger, argo, expected)
        figures.lost = result.lost + result.missing_actions
        figures.duplicated = result.duplicated_events + result.duplicated_actions

        assert producer.sent == NOTICES
        assert (result.lost, result.duplicated_events) == (0, 0)
        assert (result.missing_actions, result.duplicated_actions) == (0, 0)
        assert result.acting_events == len(argo.workflows) == sum(expected.values())
    finally:
        ledger.close()
        producer.close()
        service.stop()
