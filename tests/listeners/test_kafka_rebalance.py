"""A second consumer joins the group mid-stream: partitions move, nothing is lost and nothing is read twice.

Before giving partitions up, a member finishes the batch it is writing and
commits every offset it has written. The member that takes them over then
starts exactly there, so no record is stored twice and no redelivery is
counted. Records keep arriving from before the join until well after it, so
the revocation finds written offsets that the poll loop has not committed yet.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from tests.infra.kafka import KafkaBroker, stable_members
from tests.listeners.conftest import kafka_settings
from tests.listeners.consumer_process import start_consumer, stop_gently
from triggers.ledger import Ledger

RECORDS_PER_SECOND = 1_000
PRODUCING_AFTER_THE_JOIN_S = 3.0


class _SteadyProducer(threading.Thread):
    """Sends data notices at a steady rate until told to stop; ``sent`` is how many went out."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        super().__init__(daemon=True)
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self._bootstrap_servers, acks="all", linger_ms=5)
        while not self.stop.is_set():
            for _ in range(50):
                notice = {"id": f"steady-{self.sent}", "dataset": "lake/events"}
                producer.send(self._topic, json.dumps(notice).encode())
                self.sent += 1
            time.sleep(50 / RECORDS_PER_SECOND)
        producer.flush()
        producer.close()


def _stored(ledger: Ledger) -> tuple[int, int]:
    """Events stored, and redeliveries counted against them."""
    with ledger.database.engine.connect() as conn:
        count, duplicates = conn.exec_driver_sql("SELECT count(*), coalesce(sum(duplicates), 0) FROM events").one()
    return int(count), int(duplicates)


@pytest.mark.slow
def test_a_member_joining_mid_stream_takes_partitions_over_without_replaying_any(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    topic = f"rebalance-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=4)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger.open(ledger_url)
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic, f"group-{topic}", max_poll_records=100)
    group_id = settings.kafka.group_id
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    first = start_consumer(settings, ledger_url, logs[0])
    deadline = time.monotonic() + 120
    while stable_members(admin, group_id) != 1:
        assert first.poll() is None and time.monotonic() < deadline, logs[0].read_text()[-3000:]
        time.sleep(0.1)
    producer = _SteadyProducer(kafka_broker.bootstrap_servers, topic)
    producer.start()
    while _stored(ledger)[0] < 500:
        assert first.poll() is None and time.monotonic() < deadline, logs[0].read_text()[-3000:]
        time.sleep(0.05)

    second = start_consumer(settings, ledger_url, logs[1])
    while stable_members(admin, group_id) != 2:
        for member, log in zip((first, second), logs, strict=True):
            assert member.poll() is None, f"a member exited during the join:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "the second member never joined"
        time.sleep(0.1)
    time.sleep(PRODUCING_AFTER_THE_JOIN_S)  # both members now share the stream
    producer.stop.set()
    producer.join(30)
    records = producer.sent

    deadline = time.monotonic() + 180
    while _stored(ledger)[0] < records:
        for member, log in zip((first, second), logs, strict=True):
            assert member.poll() is None, f"a member exited after the rebalance:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"only {_stored(ledger)[0]} of {records} records were stored"
        time.sleep(0.1)
    admin.close()
    assert stop_gently(second) == 0, logs[1].read_text()[-3000:]
    assert stop_gently(first) == 0, logs[0].read_text()[-3000:]

    assert _stored(ledger) == (records, 0), "every record stored once, and none of them read a second time"
    assert "kafka partitions assigned" in logs[1].read_text(), "the second member was given partitions"
    ledger.close()
