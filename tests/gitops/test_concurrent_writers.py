"""Twenty promotions of increasing versions at once, from threads and from separate processes.

The thread writers share one checkout (the repo+branch lock serializes them);
each process has its own checkout, so those race at the remote and must win
by fetch, rebase and retry. Halfway through, someone pushes an unrelated
commit by hand, as soon as the first promotion has landed. Whatever the interleaving, the remote must end at the highest
version with every reported commit present, the outside commit kept, and no
older version ever written over a newer one: a promotion overtaken by a newer
one is refused as stale, naming the newer version that had landed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitops import lineage
from gitops.promotion import CommitResult
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter, StaleWriteError
from tests.conftest import REPO_ROOT
from tests.gitops.conftest import BOT, RegisteredModel, deployed_literal, remote_file, remote_log
from tests.gitops.promote_worker import wait_until_ready

PROCESS_VERSIONS = (3, 5, 8, 10, 13, 15, 18, 20)
THREAD_VERSIONS = tuple(v for v in range(1, 21) if v not in PROCESS_VERSIONS)
OUTSIDE_MESSAGE = "Raise the staging autoscaling ceiling"


def push_outside_commit(remote: Path, workdir: Path) -> None:
    """Once the first promotion has landed, push a hand-made change, rebasing until it lands."""
    while len(remote_log(remote)) < 2:
        time.sleep(0.02)
    git = ["git", "-C", str(workdir), "-c", "user.name=Alice", "-c", "user.email=alice@example.com"]
    subprocess.run(["git", "clone", "-q", str(remote), str(workdir)], check=True)
    hpa = workdir / "base" / "hpa.yaml"
    hpa.write_text(hpa.read_text().replace("maxReplicas: 4", "maxReplicas: 6"))
    subprocess.run([*git, "commit", "-qam", OUTSIDE_MESSAGE], check=True)
    while subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], check=False, capture_output=True).returncode:
        subprocess.run([*git, "pull", "-q", "--rebase", "origin", "main"], check=True)


@pytest.mark.slow
def test_twenty_concurrent_promotions_land_in_order_and_lose_nothing(
    make_settings: Callable[..., GitOpsSettings],
    gitops_remote: Path,
    registered_model: RegisteredModel,
    tmp_path: Path,
) -> None:
    go_file = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.gitops.promote_worker",
                make_settings().model_dump_json(),
                registered_model.request(version).model_dump_json(),
                str(go_file),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for version in PROCESS_VERSIONS
    ]
    shared_writer = GitOpsWriter(make_settings(), registered_model.registry)
    wait_until_ready(workers)
    outside = threading.Thread(target=push_outside_commit, args=(gitops_remote, tmp_path / "alice"))
    outside.start()

    def promote(version: int) -> CommitResult | StaleWriteError:
        try:
            return shared_writer.promote(registered_model.request(version))
        except StaleWriteError as e:
            return e

    go_file.touch()
    with ThreadPoolExecutor(max_workers=len(THREAD_VERSIONS)) as pool:
        thread_outcomes = dict(zip(THREAD_VERSIONS, pool.map(promote, THREAD_VERSIONS), strict=True))
    process_outcomes = {}
    for version, worker in zip(PROCESS_VERSIONS, workers, strict=True):
        stdout, _ = worker.communicate(timeout=600)
        process_outcomes[version] = json.loads(stdout.strip().splitlines()[-1])
    outside.join(timeout=120)
    assert not outside.is_alive(), "the outside commit could not be pushed"

    landed: dict[int, str] = {}
    stale: dict[int, str] = {}
    for version, outcome in thread_outcomes.items():
        if isinstance(outcome, CommitResult):
            assert outcome.sha is not None
            landed[version] = outcome.sha
        else:
            stale[version] = str(outcome)
    for version, outcome in process_outcomes.items():
        if "result" in outcome:
            landed[version] = outcome["result"]["sha"]
        else:
            assert outcome["error"] == "StaleWriteError", outcome
            stale[version] = outcome["message"]
    print(f"landed {sorted(landed)}; refused as overtaken {sorted(stale)}")

    history = remote_log(gitops_remote)
    bot_commits = [c for c in history if c.author_email == BOT[1]]
    versions_on_main = [int(lineage.parse_trailers(c.message)["Model-Version"]) for c in bot_commits]
    assert set(landed) | set(stale) == set(range(1, 21))
    assert {c.sha: v for c, v in zip(bot_commits, versions_on_main, strict=True)} == {
        sha: version for version, sha in landed.items()
    }, "every reported commit is on main with its version, and no other bot commit is"
    assert versions_on_main == sorted(set(versions_on_main)), "no older version was ever written over a newer one"
    for version, message in stale.items():
        newer = int(re.search(r"already runs churn-xgb version (\d+)", message).group(1))  # type: ignore[union-attr]
        assert newer > version and newer in landed
    assert 20 in landed
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "20"
    assert deployed_literal(gitops_remote, "MODEL_RUN_ID") == registered_model.run_ids["20"]
    assert [c.message.strip() for c in history].count(OUTSIDE_MESSAGE) == 1
    assert "maxReplicas: 6" in remote_file(gitops_remote, "base/hpa.yaml")
