"""Kafka ingest: 50,000 data notices through the consumer into the SQLite ledger, against a raw poll loop.

The baseline is a bare kafka-python poll loop over the same topic (its own
consumer group), measured in the same run. Both clocks start when the group
assigns partitions, so the group join is not counted for either.

    .venv/bin/python bench/bench_kafka_ingest.py [--records 50000] [--bootstrap-servers host:port]

Without ``--bootstrap-servers`` a local Kafka broker is started the way the
tests start it. Targets: >= 50 % of the baseline and >= 10,000 events/s.
Writes bench/results/bench_kafka_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results") / "bench_kafka_ingest.json"
RATIO_TARGET = 0.5
RATE_TARGET = 10_000


def produce(bootstrap: str, topic: str, records: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=256 * 1024)
    for n in range(records):
        notice = {
            "id": f"bench-{n}",
            "dataset": f"lake/table{n % 16}",
            "partition": f"date=2026-11-{n % 28 + 1:02d}",
            "uri": f"s3://lake/table{n % 16}/part-{n}.parquet",
            "size": 1000 + n,
        }
        producer.send(topic, json.dumps(notice).encode())
    producer.flush()
    producer.close()


class _Clock(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.started: float | None = None

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.started = self.started or time.perf_counter()


def raw_poll_loop(bootstrap: str, topic: str, records: int) -> float:
    """Events/s of a plain poll loop that reads and counts every record."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
    )
    clock = _Clock()
    consumer.subscribe([topic], listener=clock)
    seen = 0
    while seen < records:
        for batch in consumer.poll(timeout_ms=500).values():
            seen += len(batch)
    consumer.commit()
    elapsed = time.perf_counter() - (clock.started or time.perf_counter())
    consumer.close()
    return records / elapsed


def ledger_consumer(bootstrap: str, topic: str, records: int, ledger_url: str) -> float:
    """Events/s of the service's consumer, counted when the last event is in the ledger."""
    from listeners.intake import Intake
    from listeners.kafka.consumer import IngestConsumer
    from listeners.settings import ListenerSettings
    from triggers.ledger import Ledger

    ledger = Ledger.open(ledger_url)
    settings = ListenerSettings.model_validate(
        {
            "kafka": {
                "enabled": True,
                "bootstrap_servers": [bootstrap],
                "topics": [topic],
                "group_id": f"svc-{uuid.uuid4().hex[:6]}",
            }
        }
    )
    group_id = settings.kafka.group_id
    consumer = IngestConsumer(settings.kafka, Intake(settings, ledger, channel="kafka"))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    while not consumer.assigned():
        time.sleep(0.001)
    started = time.perf_counter()
    # The consumer commits an offset only after the ledger holds the records before it, so the group's
    # committed offsets say when every event is stored without the benchmark loading the ledger it measures.
    while committed(admin, group_id) < records:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(60)
    admin.close()
    stored = sum(ledger.count_by_state().values())
    ledger.close()
    if stored != records:
        raise SystemExit(f"the ledger holds {stored} events, expected {records}")
    return records / elapsed


def committed(admin: KafkaAdminClient, group_id: str) -> int:
    """Records the group has committed past, over all partitions (offsets start at 0)."""
    return sum(offset.offset for offset in admin.list_group_offsets(group_id)[group_id].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--bootstrap-servers", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    broker = None
    bootstrap = args.bootstrap_servers
    with tempfile.TemporaryDirectory() as work:
        if not bootstrap:
            from tests.infra.kafka import KafkaBroker

            print("starting a local Kafka broker ...")
            broker_dir = Path(work) / "kafka"
            broker_dir.mkdir()
            broker = KafkaBroker.start(broker_dir)
            bootstrap = broker.bootstrap_servers
        try:
            topic = f"bench-{uuid.uuid4().hex[:8]}"
            print(f"producing {args.records} records to {topic} ...")
            produce(bootstrap, topic, args.records)
            baseline = raw_poll_loop(bootstrap, topic, args.records)
            print(f"  raw kafka-python poll loop: {baseline:,.0f} records/s")
            ingest = ledger_consumer(bootstrap, topic, args.records, f"sqlite:///{work}/ledger.db")
            print(f"  consumer into the ledger:   {ingest:,.0f} events/s")
        finally:
            if broker is not None:
                broker.stop()
    ratio = ingest / baseline
    result = {
        "records": args.records,
        "ledger": "SQLite, WAL, synchronous=FULL; max_poll_records=1000 per transaction",
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "baseline_records_per_s": round(baseline, 1),
        "consumer_events_per_s": round(ingest, 1),
        "ratio": round(ratio, 3),
        "targets": {"ratio_met": ratio >= RATIO_TARGET, "rate_met": ingest >= RATE_TARGET},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"ratio consumer/baseline: {ratio:.2f} (target >= {RATIO_TARGET}); target rate {RATE_TARGET:,}/s")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
