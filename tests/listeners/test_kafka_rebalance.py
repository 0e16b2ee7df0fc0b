"""A second consumer joins the group mid-stream: partitions move, nothing is lost and nothing is read twice.

Before giving partitions up, a member finishes the batch it is writing and
commits every offset it has written. The member that takes them over then
starts exactly there, so no record is stored twice and no redelivery is
counted. Records keep arriving during the join, so the revocation always finds
written offsets that the poll loop has not committed yet.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from tests.infra.kafka import KafkaBroker
from tests.listeners.conftest import kafka_settings
from tests.listeners.consumer_process import start_consumer, stop_gently
from triggers.ledger import Ledger

RECORDS = 6_000
RECORDS_PER_SECOND = 1_000


def _produce_steadily(bootstrap_servers: str, topic: str, done: threading.Event) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    for n in range(RECORDS):
        producer.send(topic, json.dumps({"id": f"steady-{n}", "dataset": "lake/events"}).encode())
        if n % 50 == 49:
            time.sleep(50 / RECORDS_PER_SECOND)
    producer.flush()
    producer.close()
    done.set()


def _group_members(admin: KafkaAdminClient, group_id: str) -> int:
    """Members of the group once it is stable; 0 while it is forming (or its coordinator is still starting)."""
    try:
        group = admin.describe_groups([group_id]).get(group_id) or {}
    except KafkaError:
        return 0
    return len(group.get("members") or []) if group.get("group_state") == "Stable" else 0


def _stored(ledger: Ledger) -> tuple[int, int]:
    """Events stored, and redeliveries counted against them."""
    with ledger.engine.connect() as conn:
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
    while _group_members(admin, group_id) != 1:
        assert first.poll() is None and time.monotonic() < deadline, logs[0].read_text()[-3000:]
        time.sleep(0.1)
    produced = threading.Event()
    producer = threading.Thread(
        target=_produce_steadily, args=(kafka_broker.bootstrap_servers, topic, produced), daemon=True
    )
    producer.start()
    while _stored(ledger)[0] < 500:
        assert first.poll() is None and time.monotonic() < deadline, logs[0].read_text()[-3000:]
        time.sleep(0.05)

    second = start_consumer(settings, ledger_url, logs[1])
    while _group_members(admin, group_id) != 2:
        for member, log in zip((first, second), logs, strict=True):
            assert member.poll() is None, f"a member exited during the join:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "the second member never joined"
        time.sleep(0.1)
    assert not produced.is_set(), "the records ran out before the second member joined"

    deadline = time.monotonic() + 180
    while _stored(ledger)[0] < RECORDS:
        for member, log in zip((first, second), logs, strict=True):
            assert member.poll() is None, f"a member exited after the rebalance:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"only {_stored(ledger)[0]} of {RECORDS} records were stored"
        time.sleep(0.1)
    producer.join(30)
    admin.close()
    assert stop_gently(second) == 0, logs[1].read_text()[-3000:]
    assert stop_gently(first) == 0, logs[0].read_text()[-3000:]

    assert _stored(ledger) == (RECORDS, 0), "every record stored once, and none of them read a second time"
    assert "kafka partitions assigned" in logs[1].read_text(), "the second member was given partitions"
    ledger.close()
