"""Restart PostgreSQL under two dispatching replicas: nothing lost, nothing done twice.

Two ``mlops-gitops serve`` processes share one PostgreSQL ledger, as two
replicas behind a load balancer would: pushes are spread over both, and both
dispatch. Half-way through, the PostgreSQL server is restarted on the same
data directory, dropping every pooled connection of both replicas. Each
replica must come through on its own (no crash, no stalled loop), every
acknowledged push must be one event, done, and each event's workflow must
have reached the local Argo Server stand-in exactly once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools.devstack.service_process import ServiceProcess
from reliability.scoreboard import ScenarioFigures
from reliability.service_stack import Sender, outcome, push_key, settle, write_service_config
from tests.infra.postgres import PostgresCluster
from tests.workflows.argo_server import FakeArgoServer
from triggers.ledger import Ledger

PUSHES = 400
REPLICAS = 2
SENDERS = 8
RECOVERY_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = 600.0


@pytest.mark.slow
@pytest.mark.timeout(1_200)
def test_postgres_restart_under_two_dispatchers_loses_nothing_and_does_nothing_twice(
    tmp_path: Path, postgres: PostgresCluster, postgres_url: str, argo: FakeArgoServer, figures: ScenarioFigures
) -> None:
    Ledger.open(postgres_url).close()  # the schema exists before two replicas race to create it
    config = write_service_config(tmp_path, argo.url, postgres_url)
    replicas: list[ServiceProcess] = []
    try:
        for n in range(REPLICAS):
            replicas.append(ServiceProcess.start(config, tmp_path / f"replica-{n}.log"))
        sender = Sender([replica.url for replica in replicas])
        with ThreadPoolExecutor(SENDERS) as pool:
            sent = [pool.submit(sender.deliver, n) for n in range(PUSHES)]
            while sender.acknowledged < PUSHES // 2 and not all(future.done() for future in sent):
                time.sleep(0.05)
            figures.fault(f"PostgreSQL restarted after {sender.acknowledged} acknowledged pushes")
            restarted_at = time.monotonic()
            postgres.restart()
            acknowledged_at_restart = sender.acknowledged
            deadline = time.monotonic() + RECOVERY_TIMEOUT_SECONDS
            while sender.acknowledged == acknowledged_at_restart and time.monotonic() < deadline:
                time.sleep(0.05)
            figures.recovered_after(time.monotonic() - restarted_at)
            for future in sent:
                future.result()
        figures.events_sent = PUSHES
        figures.server_errors = sender.server_errors

        expected = {push_key(n): True for n in range(PUSHES)}
        ledger = Ledger.open(postgres_url)
        try:
            settle(ledger, PUSHES, SETTLE_SECONDS)
            result = outcome(ledger, argo, expected)
        finally:
            ledger.close()
        figures.lost = result.lost + result.missing_actions
        figures.duplicated = result.duplicated_events + result.duplicated_actions

        assert all(replica.proc.poll() is None for replica in replicas), "a replica died with the database"
        assert (result.lost, result.duplicated_events) == (0, 0)
        assert (result.missing_actions, result.duplicated_actions) == (0, 0)
        assert result.acting_events == len(argo.workflows) == PUSHES
        assert sender.server_errors == 0
    finally:
        for replica in replicas:
            replica.stop()
