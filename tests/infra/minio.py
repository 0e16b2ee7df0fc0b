"""A real MinIO server, built from the pinned module (``toolchain/build.sh minio``), on a loopback port.

One data directory, so MinIO runs as a single drive; its web console is off and it never checks for updates.
The root key pair is random for each server and is only handed to what must use it (the S3 clients, the
Secret a cluster run creates), never written to a log. Buckets are created with boto3, the client MLflow uses
for S3 artifacts, so creating them also proves that client against the server.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from devtools.devstack.process import free_port, start, stop, wait_until
from tests.upstream import tool

REGION = "us-east-1"
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def random(cls) -> S3Credentials:
        return cls(access_key=f"mlops{secrets.token_hex(8)}", secret_key=secrets.token_urlsafe(30))

    def environment(self) -> dict[str, str]:
        """As S3A, boto3 and the Spark pods read them."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def __repr__(self) -> str:
        return "S3Credentials(<redacted>)"


def minio_command(data_dir: Path, address: str) -> list[str]:
    """The server on ``address`` (host:port), its console on a free loopback port instead of all interfaces."""
    host = address.rsplit(":", 1)[0]
    return [
        str(tool("minio")),
        "server",
        str(data_dir),
        f"--address={address}",
        f"--console-address={host}:{free_port()}",
        "--quiet",
    ]


def minio_environment(credentials: S3Credentials) -> dict[str, str]:
    return {
        "MINIO_ROOT_USER": credentials.access_key,
        "MINIO_ROOT_PASSWORD": credentials.secret_key,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
        "MINIO_REGION": REGION,
    }


def is_live(endpoint: str) -> bool:
    return requests.get(f"{endpoint}/minio/health/live", timeout=5).ok


def s3_client(endpoint: str, credentials: S3Credentials) -> Any:  # boto3's clients are built at run time
    """A boto3 S3 client for a path-style store at ``endpoint``."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )


def create_buckets(endpoint: str, credentials: S3Credentials, buckets: Iterable[str]) -> list[str]:
    client = s3_client(endpoint, credentials)
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    listed = client.list_buckets()["Buckets"]
    return sorted(b["Name"] for b in listed)


@dataclass
class MinioServer:
    """A MinIO process for the tests; ``endpoint`` is its S3 URL on loopback."""

    endpoint: str
    credentials: S3Credentials
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, work_dir: Path) -> MinioServer:
        work_dir.mkdir(parents=True, exist_ok=True)
        address = f"127.0.0.1:{free_port()}"
        credentials = S3Credentials.random()
        proc = start(
            minio_command(work_dir / "data", address), log=work_dir / "minio.log", env=minio_environment(credentials)
        )
        server = cls(endpoint=f"http://{address}", credentials=credentials, proc=proc)
        try:
            wait_until(server._live, timeout=START_TIMEOUT, what="minio", log=work_dir / "minio.log")
        except BaseException:
            server.stop()
            raise
        return server

    def _live(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"minio exited with {self.proc.returncode}")
        return is_live(self.endpoint)

    def stop(self) -> None:
        stop(self.proc)
