"""The bearer token the Argo backend presents, from the configuration or from a file that is rotated.

In Kubernetes the token is the ServiceAccount's projected token: a file the
kubelet replaces before it expires, so it must be read again after every
replacement, not once at start. The file is only stat'ed per request and read
when its identity (inode, modification time, size) changed, so a rotated token
is used from the next call on without a restart. Outside Kubernetes a literal
token from the configuration is used as it is.
"""

from __future__ import annotations

import threading
from pathlib import Path

from core.errors import TemporaryError


class BearerToken:
    """``current()`` is the token to send: the literal one, or the token file's content as of now."""

    def __init__(self, *, literal: str | None = None, path: Path | None = None) -> None:
        self._literal = literal
        self._path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._token = ""

    def current(self) -> str | None:
        if self._path is None:
            return self._literal
        try:
            stat = self._path.stat()
            identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            with self._lock:
                if identity != self._seen:
                    self._token, self._seen = self._path.read_text(encoding="utf-8").strip(), identity
                token = self._token
        except OSError as e:
            raise TemporaryError(f"cannot read workflows.argo.token_file {self._path}: {e}; it is retried later") from e
        if not token:
            raise TemporaryError(f"workflows.argo.token_file {self._path} is empty; it is retried later")
        return token
