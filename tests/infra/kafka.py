"""A real single-node Apache Kafka 4.x broker in KRaft mode.

The broker's jars are resolved from Maven Central by ``pom.xml`` beside this
file (``mvn dependency:copy-dependencies``, cached in ``~/.m2``) and the broker
runs with the machine's ``java``: no container, no in-memory stand-in.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.devstack.process import free_port, start, stop, wait_until

KAFKA_DIR = Path(__file__).with_name("kafka")
LIBS = KAFKA_DIR / "target" / "libs"


def ensure_jars() -> Path:
    if not any(LIBS.glob("kafka_2.13-*.jar")):
        if not shutil.which("mvn"):
            raise RuntimeError("Maven (mvn) is needed to resolve the Kafka broker jars; run `make test-deps`")
        subprocess.run(["mvn", "-q", "-B", "dependency:copy-dependencies"], cwd=KAFKA_DIR, check=True)
    return LIBS


def kafka_version() -> str:
    jar = next(LIBS.glob("kafka_2.13-*.jar"))
    match = re.search(r"kafka_2\.13-(.+)\.jar", jar.name)
    return match.group(1) if match else "unknown"


@dataclass
class KafkaBroker:
    bootstrap_servers: str
    version: str
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes]
    _config: Path
    _classpath: str

    @classmethod
    def start(cls, work_dir: Path, *, initial_rebalance_delay_ms: int = 0) -> KafkaBroker:
        """A broker in ``work_dir``; a new group forms at once unless ``initial_rebalance_delay_ms`` says to wait."""
        libs = ensure_jars()
        classpath = f"{libs}/*"
        port, controller = free_port(), free_port()
        data_dir = work_dir / "kafka-data"
        config = work_dir / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller}",
                    f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data_dir}",
                    "num.partitions=4",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    f"group.initial.rebalance.delay.ms={initial_rebalance_delay_ms}",
                    "auto.create.topics.enable=true",
                ]
            )
            + "\n"
        )
        log = work_dir / "kafka.log"
        subprocess.run(
            [
                "java",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                uuid.uuid4().hex[:22],
                "-c",
                str(config),
                "--ignore-formatted",
            ],
            check=True,
            capture_output=True,
        )
        broker = cls(
            f"127.0.0.1:{port}", kafka_version(), data_dir, log, cls._launch(classpath, config, log), config, classpath
        )
        broker.wait_ready()
        return broker

    @staticmethod
    def _launch(classpath: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
        return start(
            [
                "java",
                "-Xms256m",
                "-Xmx768m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(config),
            ],
            log=log,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        from kafka import KafkaAdminClient

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Kafka broker exited with {self.proc.returncode}")
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000)
            try:
                admin.list_topics()
                return True
            finally:
                admin.close()

        wait_until(ready, timeout=timeout, what="Kafka broker", log=self.log)

    def restart(self) -> None:
        """Stop and start the same broker (same data), for fault-injection tests.

        Call it from a thread that outlives the broker (the test's own): the broker is started with a
        parent-death signal, and Linux sends it when the starting *thread* exits, stopping the broker with it.
        """
        stop(self.proc)
        self.proc = self._launch(self._classpath, self._config, self.log)
        self.wait_ready()

    def create_topic(self, name: str, partitions: int = 4) -> None:
        create_topic(self.bootstrap_servers, name, partitions)

    def stop(self) -> None:
        stop(self.proc)


def create_topic(bootstrap_servers: str, name: str, partitions: int = 4) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()


def committed_offsets(admin: Any, group_id: str) -> int:
    """Records the group has committed past, over all partitions (offsets start at 0).

    The consumer commits an offset only after the ledger holds the records
    before it, so this says how many are stored without reading the ledger.
    """
    offsets: dict[Any, Any] = admin.list_group_offsets(group_id)[group_id]
    return sum(offset.offset for offset in offsets.values())


def stable_members(admin: Any, group_id: str) -> int:
    """Members of the group once it is stable; 0 while it is forming (or its coordinator is still starting)."""
    from kafka.errors import KafkaError

    try:
        group = admin.describe_groups([group_id]).get(group_id) or {}
    except KafkaError:
        return 0
    return len(group.get("members") or []) if group.get("group_state") == "Stable" else 0
