"""A real Redis server (Debian's ``redis-server``) on a loopback port, for Feast's Redis online store.

It keeps nothing on disk and asks for a random password, so the tests pass the password the way a deployment
does: as a variable that Feast expands in ``feature_store.yaml``, never written into a file.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from devtools.devstack.process import free_port, start, stop, wait_until

START_TIMEOUT = 30.0
LOOPBACK = "127.0.0.1"


def write_config(path: Path, address: str, port: int, password: str) -> Path:
    """redis-server's config: no persistence, and the password in a file only its owner reads, not in ``ps``."""
    path.touch(mode=0o600)
    path.write_text(
        f'bind {address}\nport {port}\nsave ""\nappendonly no\nprotected-mode yes\nrequirepass {password}\n'
    )
    return path


def answers(address: str, port: int, password: str) -> bool:
    """Whether the server accepts ``password`` and answers PING."""
    client = redis.Redis(host=address, port=port, password=password, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@dataclass(frozen=True)
class RedisServer:
    address: str
    port: int
    password: str
    proc: subprocess.Popen[bytes]

    @property
    def connection_string(self) -> str:
        """Feast's Redis connection string, the password left as a variable for Feast to expand."""
        return f"{self.address}:{self.port},password=${{REDIS_PASSWORD}}"

    @classmethod
    def start(cls, work_dir: Path, address: str = LOOPBACK) -> RedisServer:
        work_dir.mkdir(parents=True, exist_ok=True)
        port, password = free_port(), secrets.token_hex(16)
        config = write_config(work_dir / "redis.conf", address, port, password)
        proc = start([shutil.which("redis-server") or "redis-server", str(config)], log=work_dir / "redis.log")
        server = cls(address=address, port=port, password=password, proc=proc)
        try:
            wait_until(lambda: answers(address, port, password), timeout=START_TIMEOUT, what="redis-server")
        except BaseException:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        stop(self.proc)
