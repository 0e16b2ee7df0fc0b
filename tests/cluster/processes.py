"""Start the cluster's programs and always stop them: SIGTERM, a grace period, then SIGKILL.

Some of them ignore SIGTERM (argo-server and the workflow-controller always did, the apiserver sometimes), so
a polite stop alone could leave a run's processes behind. Each program runs in its own session, its output
goes to a log file in the run's directory, and an early exit is reported with the end of that log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STOP_GRACE_SECONDS = 10.0


class ProcessExitedError(RuntimeError):
    """A program the cluster needs is no longer running."""


def log_tail(path: Path, lines: int = 8) -> str:
    if not path.exists():
        return "(no output)"
    text = path.read_text(errors="replace").strip().splitlines()
    return "\n".join(text[-lines:]) or "(no output)"


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise ProcessExitedError(f"{self.name} exited with status {code}: {log_tail(self.log)}")


@dataclass
class Supervisor:
    """Owns every process of one run; ``stop_all`` ends them in the reverse order of their start."""

    log_dir: Path
    running: list[Running] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Running:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        started = Running(name=name, process=process, log=log)
        self.running.append(started)
        return started

    def check_alive(self) -> None:
        for started in self.running:
            started.check_alive()

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each running program, in MiB (what the report records for sizing a machine)."""
        return {started.name: resident_mib(started.process.pid) for started in self.running}

    def stop(self, name: str) -> list[str]:
        """Stop the programs called ``name`` ahead of the rest; return those that needed SIGKILL."""
        stopping = [started for started in self.running if started.name == name]
        self.running = [started for started in self.running if started.name != name]
        return [started.name for started in stopping if not _stop(started.process)]

    def stop_all(self) -> list[str]:
        """Stop everything; return the names of those that needed SIGKILL."""
        killed: list[str] = []
        for started in reversed(self.running):
            if not _stop(started.process):
                killed.append(started.name)
        self.running.clear()
        return killed


def _stop(process: subprocess.Popen[bytes]) -> bool:
    """End ``process`` and its session; True when SIGTERM was enough."""
    if process.poll() is not None:
        return True
    _signal_session(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
        return True
    except subprocess.TimeoutExpired:
        _signal_session(process.pid, signal.SIGKILL)
        process.wait()
        return False


def _signal_session(pid: int, signal_number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal_number)  # the session's leader is the program itself (start_new_session)


def resident_mib(pid: int) -> float:
    """VmRSS of ``pid`` in MiB, 0 for a process that is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return round(kib / 1024, 1)
