"""A throwaway PostgreSQL cluster from the Debian packages.

``initdb`` into a temporary directory, ``pg_ctl`` on a free loopback port,
removed afterwards. PostgreSQL refuses to run as root, so when the suite runs
as root the cluster runs as the ``postgres`` system user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools.devstack.process import free_port, wait_until

PG_CTL_TIMEOUT_SECONDS = 120


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries not found; `make test-deps` installs the postgresql package")


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=PG_CTL_TIMEOUT_SECONDS)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr or done.stdout}")


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PostgresCluster:
    url: str
    version: str
    port: int
    data_dir: Path
    _bin: Path

    @classmethod
    def start(cls) -> PostgresCluster:
        """Create and start a cluster in its own temporary directory (the server user must reach it)."""
        bin_dir = _bin_dir()
        base = Path(tempfile.mkdtemp(prefix="mlops-gitops-pg-"))
        base.chmod(0o755)
        data_dir, sockets = base / "data", base / "sock"
        sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
            shutil.chown(sockets, "postgres")
        _run(
            _as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            )
        )
        port = free_port()
        log = base / "postgres.log"
        _run(
            _as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data_dir),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c max_connections=200",
                    "start",
                ]
            )
        )
        version = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], check=True, capture_output=True, text=True
        ).stdout.strip()
        cluster = cls(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", version, port, data_dir, bin_dir)
        wait_until(cluster._accepts, timeout=60, what="PostgreSQL", log=log)
        return cluster

    def _accepts(self) -> bool:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", connect_timeout=2):
            return True

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def restart(self) -> None:
        """Stop (rolling back open transactions, closing every connection) and start on the same data directory.

        The server log is named again: without ``-l`` the new server would write to pg_ctl's own output and
        hold it open, and pg_ctl would never be seen to finish.
        """
        log = self.data_dir.parent / "postgres.log"
        _run(
            _as_owner(
                [str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-w", "-m", "fast", "restart"]
            )
        )
        wait_until(self._accepts, timeout=60, what="PostgreSQL")

    def stop(self) -> None:
        subprocess.run(
            _as_owner([str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-w", "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
