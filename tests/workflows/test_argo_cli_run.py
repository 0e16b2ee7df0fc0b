"""``mlops-gitops run --backend argo`` against the local Argo Server stand-in: submit, follow, report."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from mlops_gitops.cli import app
from tests.workflows.argo_server import FakeArgoServer, Fault

# Hera 7.1 serializes requests with pydantic's deprecated ``.json()``; that is Hera's to change.
pytestmark = pytest.mark.filterwarnings("ignore:The `json` method is deprecated:DeprecationWarning")

TOKEN = "cli-argo-token"
NAMESPACE = "pipelines"
ETL_ARGS = ["-p", "source_uri=s3://raw-data/churn", "-p", "partitions=date=2026-11-26"]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``run`` configures logging onto the test runner's stderr, which closes afterwards: undo it."""
    structlog_config = structlog.get_config()
    root_handlers = list(logging.getLogger().handlers)
    yield
    structlog.configure(**structlog_config)
    logging.getLogger().handlers[:] = root_handlers


@pytest.fixture
def server() -> Iterator[FakeArgoServer]:
    server = FakeArgoServer(token=TOKEN).start()
    yield server
    server.stop()


def run_cli(server: FakeArgoServer, *args: str, feast_project: str | None = "churn") -> tuple[int, str, str]:
    env = {
        "MLOPS_GITOPS_WORKFLOWS__ARGO__SERVER_URL": server.url,
        "MLOPS_GITOPS_WORKFLOWS__ARGO__TOKEN": TOKEN,
        "MLOPS_GITOPS_WORKFLOWS__ARGO__NAMESPACE": NAMESPACE,
        "MLOPS_GITOPS_WORKFLOWS__ARGO__FEAST_PROJECT": feast_project,
    }
    result = CliRunner().invoke(app, ["run", *args, "--backend", "argo", "--poll-seconds", "0.1"], env=env)
    return result.exit_code, result.stdout, result.stderr


def finished(phase: str, **steps: dict[str, Any]) -> dict[str, Any]:
    """A final workflow status with one pod node per step (a dict result, or a failure message)."""
    nodes = {}
    for step, outcome in steps.items():
        failed = "error" in outcome
        nodes[f"n-{step}"] = {
            "id": f"n-{step}",
            "name": f"wf.{step}",
            "displayName": step,
            "type": "Pod",
            "templateName": step,
            "phase": "Failed" if failed else "Succeeded",
            **(
                {"message": outcome["error"]}
                if failed
                else {"outputs": {"parameters": [{"name": "result", "value": json.dumps(outcome)}]}}
            ),
        }
    return {"phase": phase, "nodes": nodes}


def test_run_submits_follows_and_reports_step_results(server: FakeArgoServer) -> None:
    server.status_on_create = finished("Succeeded", etl={"rows_written": 50_000}, materialize={"rows": 50_000})
    code, out, _ = run_cli(server, "data-etl", *ETL_ARGS, "--event-id", "delivery-7")
    assert code == 0
    ((namespace, name),) = server.workflows
    assert namespace == NAMESPACE and name.startswith("data-etl-")
    assert f"{name}: submitted to the argo backend" in out
    assert f"{name}: Succeeded" in out
    assert 'step etl done: {"rows_written": 50000}' in out
    assert server.rejected == []


def test_following_survives_a_server_hiccup(server: FakeArgoServer) -> None:
    server.status_on_create = finished("Succeeded", etl={"rows_written": 3})
    server.faults.extend([Fault(), Fault(status=503)])  # the create passes, the first status check gets a 503
    code, out, err = run_cli(server, "data-etl", *ETL_ARGS)
    assert code == 0
    assert "status unavailable, asking again" in err and "503" in err
    assert ": Succeeded" in out


def test_run_with_the_same_event_id_finds_the_earlier_run(server: FakeArgoServer) -> None:
    server.status_on_create = finished("Succeeded", etl={"rows_written": 1})
    first = run_cli(server, "data-etl", *ETL_ARGS, "--event-id", "delivery-8")
    second = run_cli(server, "data-etl", *ETL_ARGS, "--event-id", "delivery-8")
    assert first[0] == second[0] == 0
    assert len(server.workflows) == 1
    assert server.create_requests == 2


def test_a_failed_run_names_the_step_and_exits_1(server: FakeArgoServer) -> None:
    server.status_on_create = finished("Failed", etl={"error": "Error (exit code 1): schema mismatch in column age"})
    code, _, err = run_cli(server, "data-etl", *ETL_ARGS)
    assert code == 1
    assert "step etl Failed: Error (exit code 1): schema mismatch in column age" in err


def test_bad_parameters_submit_nothing(server: FakeArgoServer) -> None:
    code, _, err = run_cli(server, "data-etl", "-p", "source_uri=s3://raw-data/churn", "-p", "partitions=a b")
    assert code == 2
    assert "partitions" in err
    assert server.create_requests == 0


def test_a_configuration_the_chosen_backend_cannot_use_is_refused_before_submitting(server: FakeArgoServer) -> None:
    code, _, err = run_cli(server, "data-etl", *ETL_ARGS, feast_project=None)
    assert code == 2
    assert "--backend argo: workflows: the argo backend needs workflows.argo.feast_project" in err
    assert server.create_requests == 0
