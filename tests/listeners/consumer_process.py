"""Run ``python -m listeners.kafka`` as a separate process, so a test can SIGKILL it mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from listeners.settings import ListenerSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def start_consumer(settings: ListenerSettings, ledger_url: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "listeners.kafka",
            "--ledger-url",
            ledger_url,
            "--settings-json",
            settings.model_dump_json(),
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        start_new_session=True,
    )


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def stop_gently(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)
