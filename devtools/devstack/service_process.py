"""Run ``mlops-gitops serve`` as a real child process, as an operator would.

The demo and the crash-recovery tests need the service as a separate process
they can send webhooks to, kill with SIGKILL and start again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devtools.devstack.process import free_port, start, stop, wait_until


@dataclass
class ServiceProcess:
    config: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    extra_env: dict[str, str]
    extra_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        config: Path,
        log: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> ServiceProcess:
        """Start ``serve`` with ``config`` (plus any further ``args``, e.g. ``--insecure-dev``) and wait until ready."""
        chosen = port or free_port()
        service = cls(config, chosen, log, cls._launch(config, chosen, log, env or {}, args), env or {}, args)
        try:
            service.wait_ready()
        except BaseException:
            service.stop()
            raise
        return service

    @staticmethod
    def _launch(
        config: Path, port: int, log: Path, env: dict[str, str], args: tuple[str, ...]
    ) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "mlops_gitops", "serve", "--config", str(config), "--port", str(port), *args]
        return start(cmd, log=log, env=env)

    def wait_ready(self, timeout: float = 180) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlops-gitops serve exited with {self.proc.returncode}; see {self.log}")
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200

        wait_until(ready, timeout=timeout, what="mlops-gitops serve", log=self.log)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, no flushing, like a node dying."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def dump_stacks(self, lines: int = 400) -> str:
        """Ask the running service for every thread's stack (SIGUSR1) and return the end of its log."""
        if self.proc.poll() is None:
            logged = self.log.stat().st_size
            self.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while self.log.stat().st_size == logged and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # faulthandler writes thread by thread; let the last one land
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def restart(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.proc = self._launch(self.config, self.port, self.log, self.extra_env, self.extra_args)
        self.wait_ready()

    def stop(self) -> None:
        stop(self.proc)
