"""Kafka ingest: 50,000 data notices through the consumer into the SQLite ledger, against a raw poll loop.

The baseline is a bare kafka-python poll loop over the same topic (its own
consumer group, one process), measured in the same run. The consumer runs as
it is deployed, ``python -m listeners.kafka``: once alone, then as a group of
several processes sharing the topic's partitions and the ledger. Both clocks
start once the group has assigned its partitions, so the join is not counted.

    .venv/bin/python bench/bench_kafka_ingest.py [--records 50000] [--processes 1 2] [--bootstrap-servers host:port]

Without ``--bootstrap-servers`` a local Kafka broker is started the way the
tests start it. Targets: >= 50 % of the baseline and >= 10,000 events/s.
Writes bench/results/bench_kafka_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results") / "bench_kafka_ingest.json"
RATIO_TARGET = 0.5
RATE_TARGET = 10_000
TOPIC_PARTITIONS = 4


def produce(bootstrap: str, topic: str, records: int) -> None:
    """Data notices on a new topic of ``TOPIC_PARTITIONS`` partitions, so a group of that many can share it."""
    from tests.infra.kafka import create_topic

    create_topic(bootstrap, topic, TOPIC_PARTITIONS)
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


def ledger_consumers(bootstrap: str, topic: str, records: int, ledger_url: str, processes: int) -> float:
    """Events/s of ``processes`` consumer processes in one group, counted when the last event is in the ledger.

    Each process is the deployable consumer, ``python -m listeners.kafka``; more
    of them in the group is how Kafka ingest scales past one CPython process.
    The members import everything first and are then released together, so
    they join within moments of each other; the first to join still reads
    alone until the group has them all, so the rate counts only the records
    stored after that.
    """
    from tests.infra.kafka import committed_offsets
    from triggers.ledger import Ledger

    Ledger.open(ledger_url).close()  # migrated once, before the members start
    group_id = f"svc-{uuid.uuid4().hex[:6]}"
    settings = {"kafka": {"enabled": True, "bootstrap_servers": [bootstrap], "topics": [topic], "group_id": group_id}}
    command = [sys.executable, "-c", MEMBER_AT_THE_SIGNAL, "--ledger-url", ledger_url]
    command += ["--settings-json", json.dumps(settings)]
    logs = [Path(ledger_url.removeprefix("sqlite:///")).with_suffix(f".member-{n}.log") for n in range(processes)]
    members = [
        subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("wb"))
        for log in logs
    ]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        release_together(members)
        wait_until_stable(admin, group_id, processes, members, logs)
        started = time.perf_counter()
        stored_before = committed_offsets(admin, group_id)
        # Committed offsets say when every event is stored without the benchmark loading the ledger it measures.
        while committed_offsets(admin, group_id) < records:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for member in members:
            member.terminate()
        for member in members:
            member.wait(60)
        admin.close()
    ledger = Ledger.open(ledger_url)
    stored = sum(ledger.reads.count_by_state().values())
    ledger.close()
    if stored != records:
        raise SystemExit(f"the ledger holds {stored} events, expected {records}")
    if stored_before > records // 5:
        raise SystemExit(f"{stored_before} of {records} records were stored before the group formed; use more records")
    return (records - stored_before) / elapsed


MEMBER_AT_THE_SIGNAL = (
    "import sys; from listeners.kafka.__main__ import main; print('ready', flush=True); sys.stdin.readline(); main()"
)
"""``python -m listeners.kafka``, but it runs only once the benchmark says go, after its imports."""


def release_together(members: list[subprocess.Popen[bytes]]) -> None:
    for member in members:
        assert member.stdout is not None
        member.stdout.readline()
    for member in members:
        assert member.stdin is not None
        member.stdin.write(b"go\n")
        member.stdin.flush()


def wait_until_stable(
    admin: KafkaAdminClient, group_id: str, processes: int, members: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    """Until every member has joined and holds partitions; the clock starts after the group join."""
    from tests.infra.kafka import stable_members

    while True:
        for member, log in zip(members, logs, strict=True):
            if member.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise SystemExit(f"a consumer process exited before the group was formed:\n{tail}")
        if stable_members(admin, group_id) == processes:
            return
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--bootstrap-servers", default="")
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1, 2], help="consumer group sizes to measure (default: 1 2)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    broker = None
    bootstrap = args.bootstrap_servers
    ingest: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as work:
        if not bootstrap:
            from tests.infra.kafka import KafkaBroker

            print("starting a local Kafka broker ...")
            broker_dir = Path(work) / "kafka"
            broker_dir.mkdir()
            # Kafka's own default: a new group waits 3 s for more members, so the members released together
            # form its first generation together, as they do against a production broker.
            broker = KafkaBroker.start(broker_dir, initial_rebalance_delay_ms=3_000)
            bootstrap = broker.bootstrap_servers
        try:
            topic = f"bench-{uuid.uuid4().hex[:8]}"
            print(f"producing {args.records} records to {topic} ...")
            produce(bootstrap, topic, args.records)
            baseline = raw_poll_loop(bootstrap, topic, args.records)
            print(f"  raw kafka-python poll loop (1 process):  {baseline:,.0f} records/s")
            for processes in args.processes:
                ledger_url = f"sqlite:///{work}/ledger-{processes}.db"
                ingest[processes] = ledger_consumers(bootstrap, topic, args.records, ledger_url, processes)
                print(
                    f"  consumers into the ledger ({processes} process{'es' if processes > 1 else ''}): "
                    f"{ingest[processes]:,.0f} events/s"
                )
        finally:
            if broker is not None:
                broker.stop()
    runs = [
        {
            "processes": processes,
            "consumer_events_per_s": round(rate, 1),
            "ratio": round(rate / baseline, 3),
            "targets": {"ratio_met": rate / baseline >= RATIO_TARGET, "rate_met": rate >= RATE_TARGET},
        }
        for processes, rate in ingest.items()
    ]
    result = {
        "records": args.records,
        "ledger": "SQLite, WAL, synchronous=FULL; max_poll_records=1000 per transaction",
        "topic_partitions": TOPIC_PARTITIONS,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "baseline_records_per_s": round(baseline, 1),
        "runs": runs,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for run in runs:
        print(f"ratio consumer/baseline with {run['processes']} process(es): {run['ratio']:.2f}")
    print(f"targets: ratio >= {RATIO_TARGET}, rate >= {RATE_TARGET:,}/s; results: {RESULTS}")


if __name__ == "__main__":
    main()
