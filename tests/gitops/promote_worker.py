"""One promotion in its own process, for the concurrent-writers test and benchmark.

Usage: ``python -m tests.gitops.promote_worker SETTINGS_JSON REQUEST_JSON GO_FILE``. The
worker imports everything first and prints ``ready``, waits until ``GO_FILE``
exists (so all workers start their promotion together), promotes, and prints
one JSON line: the :class:`CommitResult`, or the error's class name and message.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from core.errors import MlopsGitopsError
from gitops.promotion import PromotionRequest
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter


def wait_until_ready(workers: list[subprocess.Popen[str]]) -> None:
    """Block until every worker has imported everything and waits for the go file."""
    for worker in workers:
        assert worker.stdout is not None
        line = worker.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"promotion worker failed to start: {line!r}")


def main() -> None:
    settings = GitOpsSettings.model_validate_json(sys.argv[1])
    request = PromotionRequest.model_validate_json(sys.argv[2])
    go_file = Path(sys.argv[3])
    writer = GitOpsWriter(settings)
    print("ready", flush=True)
    while not go_file.exists():
        time.sleep(0.005)
    try:
        outcome = {"result": writer.promote(request).model_dump()}
    except MlopsGitopsError as e:
        outcome = {"error": type(e).__name__, "message": str(e)}
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
