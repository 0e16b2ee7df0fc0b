"""Against a real Kafka broker: 10,000 records, a SIGKILL mid-stream and a restart lose and double nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.infra.kafka import KafkaBroker
from tests.listeners.conftest import kafka_settings
from tests.listeners.consumer_process import kill_hard, start_consumer, stop_gently
from triggers.ledger import Ledger

RECORDS = 10_000
POISON_EVERY = 25


def _record(n: int) -> tuple[bytes, list[tuple[str, bytes]], str | None]:
    """The n-th record: value, headers, and the idempotency key it must get (None: a poison record)."""
    dataset = f"lake/table{n % 7}"
    if n % POISON_EVERY == 0:
        poison = [b"not json at all", b'{"id": "p", "uri": "s3://x"}', b'{"dataset": "../../etc"}', b"", b"[" * 500]
        return poison[(n // POISON_EVERY) % len(poison)], [], None
    kind = n % 4
    if kind == 0:
        return (
            json.dumps({"id": f"notice-{n}", "dataset": dataset, "partition": f"n={n}"}).encode(),
            [],
            f"json:notice-{n}",
        )
    if kind == 1:
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"ce-{n}".encode()),
            ("ce_source", b"urn:ingest"),
            ("ce_type", b"data.arrived"),
            ("content-type", b"application/json"),
        ]
        return json.dumps({"dataset": dataset}).encode(), headers, f"cloudevents:urn:ingest:ce-{n}"
    if kind == 2:
        key = f"{dataset.split('/', 1)[1]}/date%3D2026-11-26/part-{n}.parquet"
        notice = {
            "EventName": "s3:ObjectCreated:Put",
            "Records": [
                {
                    "eventName": "s3:ObjectCreated:Put",
                    "s3": {"bucket": {"name": "lake"}, "object": {"key": key, "size": n, "sequencer": f"{n:016X}"}},
                }
            ],
        }
        return json.dumps(notice).encode(), [], f"s3:lake:{key.replace('%3D', '=')}:{n:016X}"
    return json.dumps({"dataset": dataset}).encode(), [], None  # no id: keyed by topic/partition/offset


def _produce(broker: KafkaBroker, topic: str) -> tuple[set[str], int]:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=20)
    expected: set[str] = set()
    poison = 0
    pending = []
    for n in range(RECORDS):
        value, headers, key = _record(n)
        future = producer.send(topic, value=value, headers=headers, key=str(n).encode())
        if key is None and n % POISON_EVERY == 0:
            poison += 1
        else:
            pending.append((future, key))
    producer.flush()
    for future, key in pending:
        meta = future.get(timeout=30)
        expected.add(key or f"kafka:{topic}:{meta.partition}:{meta.offset}")
    producer.close()
    return expected, poison


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stored_keys(ledger: Ledger) -> list[str]:
    with ledger.database.engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT idempotency_key FROM events")]


def _dead_letter_count(ledger: Ledger) -> int:
    with ledger.database.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM dead_letters WHERE origin = 'kafka'").scalar_one())


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_records_every_valid_record_once(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    topic, dlq = f"arrivals-{uuid.uuid4().hex[:8]}", f"arrivals-dlq-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=4)
    expected, poison = _produce(kafka_broker, topic)
    assert len(expected) + poison == RECORDS

    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger.open(ledger_url)
    settings = kafka_settings(
        kafka_broker.bootstrap_servers, topic, f"group-{topic}", dlq_topic=dlq, max_poll_records=200
    )
    log = tmp_path / "consumer.log"

    first = start_consumer(settings, ledger_url, log)
    _wait_for(lambda: len(_stored_keys(ledger)) >= 1500, 120, "the first records")
    kill_hard(first)
    at_kill = len(_stored_keys(ledger))
    assert at_kill < len(expected), "the consumer finished before it could be killed mid-stream"

    second = start_consumer(settings, ledger_url, log)
    _wait_for(
        lambda: len(_stored_keys(ledger)) >= len(expected) and _dead_letter_count(ledger) >= poison, 180, "every record"
    )
    assert stop_gently(second) == 0, log.read_text()[-3000:]

    keys = _stored_keys(ledger)
    assert len(keys) == len(set(keys)) == len(expected)
    assert set(keys) == expected
    dead = [d for d in ledger.reads.dead_letters(limit=RECORDS) if d.origin == "kafka"]
    assert len(dead) == poison
    reasons = {d.reason.split(":", 1)[0] for d in dead}
    assert reasons == {"malformed", "invalid"}
    assert all(d.origin_key.startswith(f"kafka:{topic}:") for d in dead)
    assert _dlq_origins(kafka_broker, dlq) == {d.origin_key for d in dead}
    ledger.close()


def _dlq_origins(broker: KafkaBroker, topic: str) -> set[str]:
    """Origins named by the DLQ topic's records (at least once: a replayed batch may repeat some)."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    origins = {dict(record.headers)["dlq-origin"].decode() for record in consumer}
    consumer.close()
    return origins
