"""One lock per GitOps repo and branch, held across threads and processes.

Writes to one branch must be serialized: two promotions interleaving their
fetch, edit and push on one checkout would corrupt each other's work tree. A
thread lock (keyed by repo URL and branch) orders writers inside a process; a
file lock next to the checkout orders processes that share that checkout.
Writers with separate checkouts still race at the remote, which the writer's
fetch-rebase-retry loop resolves.

A writer that cannot get the lock in time raises a ``TemporaryError`` with a
short ``delay``: the holder is mid-push, so the promotion is tried again soon
rather than after a growing backoff.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from core.errors import TemporaryError

HELD_LOCK_RETRY_SECONDS = 2.0
"""When a promotion that found the branch locked is tried again."""

_registry_guard = threading.Lock()
_thread_locks: dict[tuple[str, str], threading.Lock] = {}


def _thread_lock(repo_url: str, branch: str) -> threading.Lock:
    with _registry_guard:
        return _thread_locks.setdefault((repo_url, branch), threading.Lock())


class RepoBranchLock:
    """Mutual exclusion for writes to ``branch`` of ``repo_url`` through the checkout at ``work_dir``."""

    def __init__(self, repo_url: str, branch: str, work_dir: Path, timeout_seconds: float) -> None:
        self._repo_url = repo_url
        self._branch = branch
        self._timeout = timeout_seconds
        digest = hashlib.sha256(f"{repo_url}\0{branch}".encode()).hexdigest()[:16]
        # Beside the checkout, not inside it: the work tree is cleaned before every attempt.
        self.path = work_dir.parent / f".{work_dir.name}.{digest}.lock"

    @contextmanager
    def hold(self) -> Iterator[None]:
        lock = _thread_lock(self._repo_url, self._branch)
        if not lock.acquire(timeout=self._timeout):
            raise TemporaryError(
                f"another writer in this process holds {self._branch} for {self._timeout}s; retry later",
                delay=HELD_LOCK_RETRY_SECONDS,
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(self.path, timeout=self._timeout):
                yield
        except FileLockTimeout as e:
            raise TemporaryError(
                f"another process holds {self.path} for {self._timeout}s; retry later", delay=HELD_LOCK_RETRY_SECONDS
            ) from e
        finally:
            lock.release()
