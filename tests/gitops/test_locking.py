"""A branch lock held by another writer is a temporary failure that says to come back soon."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.errors import TemporaryError
from gitops.locking import HELD_LOCK_RETRY_SECONDS, RepoBranchLock


def test_a_branch_held_by_another_thread_is_retried_after_a_short_delay(tmp_path: Path) -> None:
    holder = RepoBranchLock("file:///gitops.git", "main", tmp_path / "a", timeout_seconds=5)
    waiter = RepoBranchLock("file:///gitops.git", "main", tmp_path / "b", timeout_seconds=0.05)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.hold():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(TemporaryError, match="another writer in this process holds main") as raised, waiter.hold():
            pass
        assert raised.value.delay == HELD_LOCK_RETRY_SECONDS
    finally:
        release.set()
        thread.join()


def test_a_checkout_held_by_another_process_is_retried_after_a_short_delay(tmp_path: Path) -> None:
    lock = RepoBranchLock("file:///gitops.git", "release", tmp_path / "checkout", timeout_seconds=0.05)
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import filelock,sys; l=filelock.FileLock({str(lock.path)!r}); l.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TemporaryError, match="another process holds") as raised, lock.hold():
            pass
        assert raised.value.delay == HELD_LOCK_RETRY_SECONDS
    finally:
        holder.kill()
        holder.wait()
