"""A failed ledger write loses nothing: the consumer seeks back, and the batch admitted behind it comes again too.

The consumer writes one batch while it admits the next, so a failure must
rewind both. The ledger here is the real SQLite ledger whose first writes
fail as the ledger reports a dropped database connection. A consume loop that ended
(a broker that went away ends it with an error) is started again by its
supervisor on the same consumer, which must then go on where it stopped.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer

from listeners.intake import Intake
from listeners.kafka.consumer import LEDGER_RETRY_SECONDS, IngestConsumer
from tests.infra.kafka import KafkaBroker, committed_offsets
from tests.listeners.conftest import kafka_settings
from triggers.event import Event
from triggers.ledger import Ledger, LedgerUnavailableError, RecordResult
from triggers.ledger.database import LedgerDatabase
from triggers.ledger.event_store import EventStore

RECORDS = 3_000
FAILED_WRITES = 3


class EventStoreThatFailsFirst(EventStore):
    """The real event store, except that its first ``failures`` batch writes fail before reaching the database,
    with an error that says to come back after ``delay`` seconds."""

    def __init__(self, database: LedgerDatabase, failures: int, delay: float = 0.1) -> None:
        super().__init__(database)
        self.failures_left = failures
        self.delay = delay
        self.writes = 0

    def record_many(self, events: Sequence[Event]) -> list[RecordResult]:
        self.writes += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise LedgerUnavailableError(
                "ledger database unavailable: connection to the ledger was lost", delay=self.delay
            )
        return super().record_many(events)


def test_failed_writes_are_read_again_and_recorded_once(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    topic = f"rewind-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all", linger_ms=5)
    for n in range(RECORDS):
        notice = b"{broken" if n % 100 == 0 else json.dumps({"id": f"n-{n}", "dataset": "lake/events"}).encode()
        producer.send(topic, value=notice, key=str(n).encode())
    producer.flush()
    producer.close()

    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    failing = ledger.events = EventStoreThatFailsFirst(ledger.database, FAILED_WRITES)
    settings = kafka_settings(
        kafka_broker.bootstrap_servers, topic, f"rewind-{uuid.uuid4().hex[:6]}", max_poll_records=200
    )
    consumer = IngestConsumer(settings.kafka, Intake(settings, ledger, channel="kafka"))
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        deadline = time.monotonic() + 120
        while not consumer.assigned():
            assert time.monotonic() < deadline, "the consumer was given no partition"
            time.sleep(0.05)
        while committed_offsets(admin, settings.kafka.group_id) < RECORDS:
            assert time.monotonic() < deadline, "the consumer did not commit every record"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
        admin.close()

    assert failing.failures_left == 0
    with ledger.database.engine.connect() as conn:
        keys = [row[0] for row in conn.exec_driver_sql("SELECT idempotency_key FROM events")]
        dead = conn.exec_driver_sql("SELECT count(*) FROM dead_letters WHERE origin = 'kafka'").scalar_one()
    assert sorted(keys) == sorted(f"json:n-{n}" for n in range(RECORDS) if n % 100)
    assert dead == RECORDS // 100
    ledger.close()


def test_a_consumer_run_again_after_its_loop_ended_goes_on_consuming(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    topic = f"rerun-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic, f"rerun-{uuid.uuid4().hex[:6]}")
    consumer = IngestConsumer(settings.kafka, Intake(settings, ledger, channel="kafka"))
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        for run, first in enumerate((0, 200)):
            producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
            for n in range(first, first + 200):
                producer.send(topic, json.dumps({"id": f"r-{n}", "dataset": "lake/events"}).encode())
            producer.flush()
            producer.close()
            stop = threading.Event()
            thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
            thread.start()
            deadline = time.monotonic() + 120
            while not consumer.assigned():
                assert thread.is_alive(), f"run {run + 1} of the consumer ended by itself"
                assert time.monotonic() < deadline, f"run {run + 1} was given no partition"
                time.sleep(0.05)
            while committed_offsets(admin, settings.kafka.group_id) < first + 200:
                assert thread.is_alive(), f"run {run + 1} of the consumer ended by itself"
                assert time.monotonic() < deadline, f"run {run + 1} did not commit its records"
                time.sleep(0.1)
            stop.set()
            thread.join(30)
    finally:
        admin.close()
    assert ledger.reads.count_by_state() == {"received": 400}
    ledger.close()


def test_a_failed_write_is_read_again_only_after_the_delay_its_error_asked_for(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    topic = f"delay-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    for n in range(10):
        producer.send(topic, json.dumps({"id": f"d-{n}", "dataset": "lake/events"}).encode())
    producer.flush()
    producer.close()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    failing = ledger.events = EventStoreThatFailsFirst(ledger.database, failures=1, delay=3600)
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic, f"delay-{uuid.uuid4().hex[:6]}")
    consumer = IngestConsumer(settings.kafka, Intake(settings, ledger, channel="kafka"))
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while failing.writes == 0:
            assert time.monotonic() < deadline, "the consumer never wrote its batch"
            time.sleep(0.05)
        time.sleep(3 * LEDGER_RETRY_SECONDS)  # well past the fixed pause the consumer takes when an error says nothing
        assert failing.writes == 1, "the batch was written again before the hour its error asked for"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive(), "stopping did not cut the pause short"
    assert ledger.reads.count_by_state() == {}
    ledger.close()
