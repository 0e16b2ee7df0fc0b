"""A process with a local backend whose flows started Prefect's temporary API server, closed as the service does.

``python -m tests.workflows.prefect_server_owner WORK_DIR`` prints the server's pid once it answers, closes the
backend, and prints ``closed``; it then idles until its standard input closes, so the test can look at the server
while the process that started it is still alive (the server must not depend on that process exiting).
"""

from __future__ import annotations

import sys

from workflows.local import LocalBackend
from workflows.settings import LocalSettings


def main() -> None:
    backend = LocalBackend(LocalSettings(work_dir=sys.argv[1]), code_repos=())
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the one a flow's client starts on first use
    server.start()
    assert server.server_process is not None
    print(server.server_process.pid, flush=True)
    backend.close()
    print("closed", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
