"""A real ``mlflow server`` subprocess with a SQLite backend and webhooks enabled.

Webhooks need a SQL backend store; the environment below is what MLflow reads
to keep the webhook secret stable across its workers and to allow plain-HTTP
loopback targets (the service under test listens on 127.0.0.1).

Artifacts go to a local directory unless an ``artifacts_destination`` (such as
``s3://bucket/prefix``) is given; the server proxies them either way, so only
the server needs the store's keys (``environment``), never its clients.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from devtools.devstack.process import free_port, start, stop, wait_until


def mlflow_server_env() -> dict[str, str]:
    return {
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        # The server's background job runner (a pool of huey consumer processes) serves features these
        # stacks do not use; without it a server starts in seconds instead of minutes on a small machine.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


@dataclass
class MlflowServer:
    tracking_uri: str
    version: str
    port: int
    work_dir: Path
    log: Path
    command: list[str]
    proc: subprocess.Popen[bytes]
    environment: dict[str, str]

    @classmethod
    def start(
        cls, work_dir: Path, *, artifacts_destination: str | None = None, environment: dict[str, str] | None = None
    ) -> MlflowServer:
        import mlflow

        work_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = work_dir / "mlflow.log"
        cmd = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{work_dir / 'mlflow.db'}",
            "--artifacts-destination",
            artifacts_destination or str(work_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        env = mlflow_server_env() | (environment or {})
        proc = start(cmd, log=log, env=env, cwd=work_dir)
        server = cls(f"http://127.0.0.1:{port}", mlflow.__version__, port, work_dir, log, cmd, proc, env)
        try:
            wait_until(server._healthy, timeout=300, what="mlflow server", log=log)
        except BaseException:
            server.stop()
            raise
        return server

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {self.proc.returncode}")
        return httpx.get(f"{self.tracking_uri}/health", timeout=2).status_code == 200

    def restart(self) -> None:
        self.stop()
        self.start_again()

    def start_again(self) -> None:
        """Start the stopped server once more, on the same port and backend store."""
        self.proc = start(self.command, log=self.log, env=self.environment, cwd=self.work_dir)
        wait_until(self._healthy, timeout=300, what="mlflow server", log=self.log)

    def stop(self) -> None:
        stop(self.proc)
