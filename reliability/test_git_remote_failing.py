"""Git remote failing under the running service: pushes rejected, then the remote gone; retried, nothing lost.

Both scenarios run ``mlops-gitops serve`` against a real bare GitOps remote
and a real ``mlflow server`` holding ``churn-xgb`` versions 1 to 5.

Rejected pushes: a person's pushes keep landing exactly while the bot's push
waits (see :mod:`reliability.outside_writer`), five times in a row, more than
one write's own push retries (two here), so the dispatcher must retry the
promotion too. Each lost race also leaves debris in the bot's checkout. The
promotion must land once, on top of all five outside commits, and no pushed
attempt may carry debris. Then the person deploys version 4 by hand while the
bot pushes version 3: the bot must refuse the stale write, not overwrite it.

Unreachable: after a first promotion, the bare repository is moved away; a
second promotion must be retried (not dead-lettered as a wrong URL) until the
repository is back, then land once, keeping the first.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.service_process import ServiceProcess
from reliability import outside_writer
from reliability.promotion_stack import (
    commits_by_event,
    register_versions,
    send_alias_moved,
    wait_for_failed_attempts,
    write_promotion_config,
)
from reliability.scoreboard import ScenarioFigures
from tests.conftest import mlflow_server  # noqa: F401 - the suite's real mlflow server
from tests.gitops.conftest import deployed_literal, remote_log
from tests.gitops.repos import BOT, template_remote
from tests.service.test_crash_recovery import wait_for_state
from triggers.ledger import EventState, Ledger

REJECTIONS = 5
PUSH_ATTEMPTS_PER_WRITE = 2
DISPATCHER = {"backoff_initial_seconds": 0.5, "backoff_max_seconds": 2.0, "action_retries": 40}
WAIT_SECONDS = 180


@pytest.fixture(scope="module")
def registry(mlflow_server: MlflowServer) -> Iterator[str]:  # noqa: F811 - the fixture imported above
    register_versions(mlflow_server.tracking_uri, 5)
    yield mlflow_server.tracking_uri


def start_service(tmp_path: Path, tracking_uri: str, remote: Path) -> tuple[ServiceProcess, Ledger]:
    config, ledger_url = write_promotion_config(
        tmp_path,
        tracking_uri=tracking_uri,
        gitops_remote=remote,
        dispatcher=DISPATCHER,
        gitops={"push_retry": {"max_attempts": PUSH_ATTEMPTS_PER_WRITE, "initial_wait_seconds": 0.05}},
    )
    return ServiceProcess.start(config, tmp_path / "service.log"), Ledger.open(ledger_url)


def is_ancestor(remote: Path, sha: str) -> bool:
    command = ["git", "--git-dir", str(remote), "merge-base", "--is-ancestor", sha, "main"]
    return subprocess.run(command, check=False).returncode == 0


@pytest.mark.slow
def test_rejected_pushes_are_retried_keeping_outside_commits_and_refusing_a_stale_write(
    tmp_path: Path, registry: str, figures: ScenarioFigures
) -> None:
    remote = template_remote(tmp_path / "remotes")
    stage = outside_writer.Stage(
        bot_email=BOT[1],
        outside_clone=str(tmp_path / "outside"),
        bot_checkout=str(tmp_path / "gitops-checkout"),
        plan=str(tmp_path / "outside-plan.json"),
        journal=str(tmp_path / "bot-pushes.jsonl"),
    )
    outside_writer.install(remote, stage)
    service, ledger = start_service(tmp_path, registry, remote)
    try:
        outside_writer.plan(stage, [f"note {n}" for n in range(REJECTIONS)])
        started = time.monotonic()
        promoted = send_alias_moved(service.url, "challenger", 2, figures)
        wait_for_state(ledger, promoted, EventState.DONE, timeout=WAIT_SECONDS)
        figures.recovered_after(time.monotonic() - started)
        figures.fault(f"{REJECTIONS} bot pushes rejected as an outside writer pushed first")
        figures.fault(f"debris left in the bot's checkout after each of the {REJECTIONS} rejections")
        done = ledger.reads.get(promoted)
        assert done is not None and done.actions[0].state.attempts > REJECTIONS // PUSH_ATTEMPTS_PER_WRITE

        outside_writer.plan(stage, ["deploy:4"])
        stale = send_alias_moved(service.url, "challenger", 3, figures)
        wait_for_state(ledger, stale, EventState.DEAD_LETTERED, timeout=WAIT_SECONDS)
        figures.fault("a person deployed version 4 by hand while the bot pushed version 3")
        refused = ledger.reads.get(stale)
        assert refused is not None and "already runs churn-xgb version 4" in (refused.last_error or "")
    finally:
        ledger.close()
        service.stop()

    outside = outside_writer.outside_commits(stage)
    commits = commits_by_event(remote)
    figures.lost += sum(not is_ancestor(remote, sha) for sha in outside) + (0 if commits.get(promoted) else 1)
    figures.duplicated += sum(len(shas) - 1 for shas in commits.values())
    assert len(outside) == REJECTIONS + 1 and all(is_ancestor(remote, sha) for sha in outside)
    assert list(commits) == [promoted] and len(commits[promoted]) == 1
    assert remote_log(remote)[-1].message.startswith("By hand: deploy:4")
    assert deployed_literal(remote, "MODEL_VERSION") == "4", "the stale version 3 must not replace version 4"
    pushed = outside_writer.pushed_bot_commits(stage)
    assert len(pushed) == len(outside) + 1, "every lost race, and the one push that landed"
    for attempt in pushed:
        assert outside_writer.DEBRIS_FILE not in attempt["files"]  # type: ignore[operator]
        assert f"MODEL_VERSION={outside_writer.DEBRIS_VERSION}" not in str(attempt["staging"])


@pytest.mark.slow
def test_an_unreachable_remote_is_retried_until_it_is_back(
    tmp_path: Path, registry: str, figures: ScenarioFigures
) -> None:
    remote = template_remote(tmp_path / "remotes")
    service, ledger = start_service(tmp_path, registry, remote)
    away = remote.with_name("moved-away.git")
    try:
        first = send_alias_moved(service.url, "challenger", 2, figures)
        wait_for_state(ledger, first, EventState.DONE, timeout=WAIT_SECONDS)

        remote.rename(away)
        second = send_alias_moved(service.url, "champion", 2, figures)
        failing = wait_for_failed_attempts(ledger, second, 3, WAIT_SECONDS)
        figures.fault(f"bare remote moved away through {failing.state.attempts} attempts of a promotion")
        assert "fetched from has no repository now" in (failing.state.last_error or "")

        away.rename(remote)
        back_at = time.monotonic()
        wait_for_state(ledger, second, EventState.DONE, timeout=WAIT_SECONDS)
        figures.recovered_after(time.monotonic() - back_at)
    finally:
        if away.exists():
            away.rename(remote)
        ledger.close()
        service.stop()

    commits = commits_by_event(remote)
    figures.lost += sum(not commits.get(event) for event in (first, second))
    figures.duplicated += sum(len(shas) - 1 for shas in commits.values())
    assert {event: len(shas) for event, shas in commits.items()} == {first: 1, second: 1}
    assert deployed_literal(remote, "MODEL_VERSION", "staging") == "2"
    assert deployed_literal(remote, "MODEL_VERSION", "production") == "2"
