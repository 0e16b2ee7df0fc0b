"""Twenty concurrent promotions of increasing versions, with an outside commit pushed in the middle.

Twenty threads ask one writer for versions 1..20 at once: each submits its
promotion right after the previous version was submitted (versions increase
in the order they are asked for) and then waits for its own outcome
concurrently with all the others. Halfway through, someone pushes an
unrelated commit by hand, as soon as the first promotion has landed, so a
batch push is rejected and replayed on top of it. Group commit writes each
batch in ascending version order, so all twenty must land, each as its own
bot commit with its own trailers, in version order, the outside commit kept
and version 20 deployed at the end.
"""

from __future__ import annotations

import subprocess
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
from tests.gitops.conftest import BOT, RegisteredModel, deployed_literal, make_request, remote_file, remote_log

VERSIONS = tuple(range(1, 21))
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
def test_twenty_concurrent_promotions_all_land_in_order_and_lose_nothing(
    make_settings: Callable[..., GitOpsSettings],
    gitops_remote: Path,
    registered_model: RegisteredModel,
    tmp_path: Path,
) -> None:
    writer = GitOpsWriter(make_settings(), registered_model.registry)
    submitted = {version: threading.Event() for version in VERSIONS}
    outside = threading.Thread(target=push_outside_commit, args=(gitops_remote, tmp_path / "alice"))
    outside.start()

    def promote(version: int) -> CommitResult:
        if version > 1:
            submitted[version - 1].wait()
        pending = writer.submit(registered_model.request(version))
        submitted[version].set()
        return pending.result()

    with ThreadPoolExecutor(max_workers=len(VERSIONS)) as pool:
        results = dict(zip(VERSIONS, pool.map(promote, VERSIONS), strict=True))
    outside.join(timeout=120)
    assert not outside.is_alive(), "the outside commit could not be pushed"

    history = remote_log(gitops_remote)
    bot_commits = [commit for commit in history if commit.author_email == BOT[1]]
    assert all(result.pushed and result.sha for result in results.values())
    assert [commit.sha for commit in bot_commits] == [results[version].sha for version in VERSIONS], (
        "every promotion is its own commit on main, in ascending version order, and no other bot commit is"
    )
    for version, commit in zip(VERSIONS, bot_commits, strict=True):
        trailers = lineage.parse_trailers(commit.message)
        assert trailers == {
            "Model-Name": "churn-xgb",
            "Model-Version": str(version),
            "Model-Source": f"models:/churn-xgb/{version}",
            "MLflow-Run-Id": registered_model.run_ids[str(version)],
            "Trigger-Event-Id": f"event-{version}",
        }
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "20"
    assert deployed_literal(gitops_remote, "MODEL_RUN_ID") == registered_model.run_ids["20"]
    assert [commit.message.strip() for commit in history].count(OUTSIDE_MESSAGE) == 1
    assert "maxReplicas: 6" in remote_file(gitops_remote, "base/hpa.yaml")


def test_a_batch_lands_in_ascending_order_and_refuses_only_what_is_older_than_deployed(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path
) -> None:
    writer = GitOpsWriter(make_settings())
    writer.promote(make_request(4))

    pending = {version: writer.submit(make_request(version)) for version in (7, 2, 5, 4, 6)}
    outcomes: dict[int, CommitResult | StaleWriteError] = {}
    for version, promotion in pending.items():
        try:
            outcomes[version] = promotion.result()
        except StaleWriteError as e:
            outcomes[version] = e

    assert isinstance(outcomes[2], StaleWriteError)
    assert "already runs churn-xgb version 4" in str(outcomes[2])
    assert outcomes[4] == CommitResult(sha=None, environment="staging", version="4", pushed=False)
    bot_commits = [commit for commit in remote_log(gitops_remote) if commit.author_email == BOT[1]]
    assert [lineage.parse_trailers(commit.message)["Model-Version"] for commit in bot_commits] == ["4", "5", "6", "7"]
    assert [commit.sha for commit in bot_commits[1:]] == [
        result.sha for version in (5, 6, 7) if isinstance(result := outcomes[version], CommitResult)
    ]
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "7"
