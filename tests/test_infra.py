"""The real services the suite relies on start, answer and report their versions."""

from __future__ import annotations

import subprocess

import httpx
import psycopg
from kafka import KafkaConsumer, KafkaProducer

from devtools.devstack.mlflow_server import MlflowServer
from tests.infra.git_remote import GitRemoteFactory
from tests.infra.kafka import KafkaBroker
from tests.infra.postgres import PostgresCluster


def test_kafka_broker_round_trips_a_record(kafka_broker: KafkaBroker) -> None:
    assert kafka_broker.version.startswith("4.")
    kafka_broker.create_topic("infra-check", partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    producer.send("infra-check", b"hello").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        "infra-check",
        bootstrap_servers=kafka_broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    values = [m.value for m in consumer]
    consumer.close()
    assert values == [b"hello"]


def test_postgres_answers_queries(postgres: PostgresCluster, postgres_url: str) -> None:
    assert "PostgreSQL" in postgres.version
    dbname = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname={dbname}") as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)


def test_mlflow_server_is_healthy(mlflow_server: MlflowServer) -> None:
    assert httpx.get(f"{mlflow_server.tracking_uri}/health").status_code == 200


def test_git_remote_factory_seeds_a_branch(git_remote_factory: GitRemoteFactory) -> None:
    bare = git_remote_factory.create("seeded", initial_files={"README.md": "hi\n"})
    out = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "--name-only", "main"], check=True, capture_output=True, text=True
    )
    assert out.stdout.split() == ["README.md"]
