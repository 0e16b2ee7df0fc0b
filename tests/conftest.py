"""Session-wide real services, started lazily the first time a test asks for one.

The versions of the Kafka broker, PostgreSQL and MLflow are written to the
test log so a run records exactly what it was tested against.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.devstack.mlflow_server import MlflowServer
from tests.infra.git_remote import GitRemoteFactory
from tests.infra.kafka import KafkaBroker
from tests.infra.postgres import PostgresCluster

REPO_ROOT = Path(__file__).resolve().parents[1]


STARTED_SERVICES: list[str] = []


def _announce(line: str) -> None:
    STARTED_SERVICES.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the real services (and versions) this run tested against, at the end of the log."""
    if STARTED_SERVICES:
        terminalreporter.section("real services")
        for line in STARTED_SERVICES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker.start(tmp_path_factory.mktemp("kafka"))
    _announce(f"[services] Apache Kafka {broker.version} (KRaft) at {broker.bootstrap_servers}")
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    _announce(f"[services] {cluster.version} at 127.0.0.1:{cluster.port}")
    yield cluster
    cluster.stop()


_db_counter = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """A fresh, empty database on the session's PostgreSQL cluster for each test."""
    return postgres.create_database(f"test_{next(_db_counter)}")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer.start(tmp_path_factory.mktemp("mlflow"))
    _announce(f"[services] mlflow server {server.version} at {server.tracking_uri}")
    yield server
    server.stop()


@pytest.fixture
def git_remote_factory(tmp_path: Path) -> GitRemoteFactory:
    root = tmp_path / "remotes"
    root.mkdir()
    return GitRemoteFactory(root)
