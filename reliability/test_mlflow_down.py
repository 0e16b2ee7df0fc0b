"""``mlflow server`` down during a promotion: retried with backoff, done once the server is back, one commit.

The service runs as a real process against its own real ``mlflow server``
holding the registered version. The server is stopped, then the alias
delivery MLflow sent just before going down arrives: the promotion cannot
look the version up, so the action must fail as temporary and the event be
retried with the dispatcher's backoff (not held inside one MLflow call),
with nothing written to the GitOps repo. The server is started again on the
same port and backend store; the promotion must complete with exactly one
commit, naming the event and the version's run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.service_process import ServiceProcess
from reliability.promotion_stack import (
    commits_by_event,
    register_versions,
    send_alias_moved,
    wait_for_failed_attempts,
    write_promotion_config,
)
from reliability.scoreboard import ScenarioFigures
from tests.gitops.conftest import deployed_literal
from tests.gitops.repos import template_remote
from tests.service.test_crash_recovery import wait_for_state
from triggers.ledger import EventState, Ledger

ATTEMPTS_WHILE_DOWN = 3
MAX_ATTEMPTS = 40
"""Enough for the server's restart to fit in the retries, on a slow machine too."""
WAIT_SECONDS = 180


@pytest.fixture
def mlflow(tmp_path: Path) -> Iterator[MlflowServer]:
    server = MlflowServer.start(tmp_path / "mlflow")
    yield server
    server.stop()


@pytest.mark.slow
def test_a_promotion_during_an_mlflow_outage_is_retried_and_completes_once(
    tmp_path: Path, mlflow: MlflowServer, figures: ScenarioFigures
) -> None:
    run_ids = register_versions(mlflow.tracking_uri, 1)
    remote = template_remote(tmp_path / "remotes")
    config, ledger_url = write_promotion_config(
        tmp_path,
        tracking_uri=mlflow.tracking_uri,
        gitops_remote=remote,
        dispatcher={"backoff_initial_seconds": 0.5, "backoff_max_seconds": 2.0, "action_retries": MAX_ATTEMPTS},
        gitops={},
    )
    service = ServiceProcess.start(config, tmp_path / "service.log")
    ledger = Ledger.open(ledger_url)
    try:
        mlflow.stop()
        event_id = send_alias_moved(service.url, "champion", 1, figures)

        failing = wait_for_failed_attempts(ledger, event_id, ATTEMPTS_WHILE_DOWN, WAIT_SECONDS)
        figures.fault(f"mlflow server stopped through {failing.state.attempts} attempts of a promotion")
        assert failing.state.last_error is not None and f"MLflow at {mlflow.tracking_uri}" in failing.state.last_error
        assert failing.state.next_attempt_at is not None, "a temporary failure is retried later, with backoff"
        assert commits_by_event(remote) == {}

        mlflow.start_again()
        back_at = time.monotonic()
        wait_for_state(ledger, event_id, EventState.DONE, timeout=WAIT_SECONDS)
        figures.recovered_after(time.monotonic() - back_at)

        done = ledger.reads.get(event_id)
        assert done is not None
        commits = commits_by_event(remote)
        figures.lost += 0 if commits.get(event_id) else 1
        figures.duplicated += max(0, len(commits.get(event_id, [])) - 1)
        assert list(commits) == [event_id] and len(commits[event_id]) == 1
        assert [(a.status, a.target) for a in done.actions] == [("succeeded", commits[event_id][0])]
        assert deployed_literal(remote, "MODEL_VERSION", "production") == "1"
        assert deployed_literal(remote, "MODEL_RUN_ID", "production") == run_ids["1"]
    finally:
        ledger.close()
        service.stop()
