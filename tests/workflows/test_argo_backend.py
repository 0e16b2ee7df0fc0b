"""The Argo backend against a real HTTP server speaking the Argo Server's REST dialect.

Every create body the backend sends is checked against the Argo Server's
swagger.json (and the Workflow inside it against the Workflow schema) by the
server itself; ``server.rejected`` stays empty when they all pass.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import PermanentError, TemporaryError
from tests.workflows.argo_server import FakeArgoServer, Fault
from tests.workflows.pipeline_samples import SAMPLE_LABELS, SAMPLE_PARAMS
from workflows.argo.backend import ArgoBackend
from workflows.argo.session import retry_after_seconds
from workflows.backend import EVENT_ID_LABEL, RunPhase
from workflows.factory import make_backend
from workflows.naming import run_name
from workflows.settings import ArgoSettings, WorkflowSettings

# Hera 7.1 serializes requests with pydantic's deprecated ``.json()``; that is Hera's to change.
pytestmark = pytest.mark.filterwarnings("ignore:The `json` method is deprecated:DeprecationWarning")

TOKEN = "s3cr3t-argo-token"
NAMESPACE = "mlops"
CHURN_REPO = "https://git.example.com/acme/churn-model.git"


@pytest.fixture
def server() -> Iterator[FakeArgoServer]:
    server = FakeArgoServer(token=TOKEN).start()
    yield server
    server.stop()


def backend_for(url: str, *, token: str = TOKEN, timeout: float = 5.0) -> ArgoBackend:
    settings = ArgoSettings(
        feast_project="churn", server_url=url, token=token, namespace=NAMESPACE, request_timeout_seconds=timeout
    )
    return ArgoBackend(settings, code_repos=[CHURN_REPO])


@pytest.fixture
def backend(server: FakeArgoServer) -> Iterator[ArgoBackend]:
    backend = backend_for(server.url)
    yield backend
    backend.close()


def submit_retrain(backend: ArgoBackend, name: str = "retrain-0123456789ab") -> str:
    return backend.submit("retrain", SAMPLE_PARAMS["retrain"], run_name=name, labels=SAMPLE_LABELS)


def test_submit_creates_a_valid_workflow_under_the_deterministic_name(
    server: FakeArgoServer, backend: ArgoBackend
) -> None:
    name = run_name("retrain", "push:acme/churn-model:main:9fceb02")
    assert submit_retrain(backend, name) == name
    assert server.rejected == []
    stored = server.workflows[(NAMESPACE, name)]
    assert stored["metadata"]["labels"][EVENT_ID_LABEL] == SAMPLE_LABELS[EVENT_ID_LABEL]
    assert backend.status(name).phase is RunPhase.PENDING


def test_second_submit_of_the_same_name_is_already_submitted(server: FakeArgoServer, backend: ArgoBackend) -> None:
    first = submit_retrain(backend)
    second = submit_retrain(backend)
    assert first == second
    assert server.create_requests == 2
    assert len(server.workflows) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_are_temporary(server: FakeArgoServer, backend: ArgoBackend, status: int) -> None:
    server.faults.append(Fault(status=status))
    with pytest.raises(TemporaryError, match=str(status)) as raised:
        submit_retrain(backend)
    assert raised.value.__cause__ is not None
    assert server.workflows == {}
    assert submit_retrain(backend) == "retrain-0123456789ab"


@pytest.mark.parametrize(("status", "retry_after", "delay"), [(429, "30", 30.0), (503, "7", 7.0), (502, None, None)])
def test_a_server_that_says_when_to_come_back_is_temporary_with_that_delay(
    server: FakeArgoServer, backend: ArgoBackend, status: int, retry_after: str | None, delay: float | None
) -> None:
    server.faults.append(Fault(status=status, retry_after=retry_after))
    with pytest.raises(TemporaryError, match=str(status)) as raised:
        submit_retrain(backend)
    assert raised.value.delay == delay


def test_retry_after_as_an_http_date_is_the_seconds_until_then() -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    delay = retry_after_seconds(format_datetime(later, usegmt=True))
    assert delay is not None and 100 < delay <= 120
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


@pytest.mark.parametrize("status", [400, 403, 422])
def test_client_errors_are_permanent(server: FakeArgoServer, backend: ArgoBackend, status: int) -> None:
    server.faults.append(Fault(status=status))
    with pytest.raises(PermanentError, match=str(status)):
        submit_retrain(backend)


def test_a_wrong_token_is_permanent_and_names_the_setting(server: FakeArgoServer) -> None:
    backend = backend_for(server.url, token="not-the-token")
    with pytest.raises(PermanentError, match=r"401.*workflows\.argo\.token"):
        submit_retrain(backend)
    assert server.workflows == {}


def project_token(directory: Path, token: str, generation: int) -> Path:
    """Write ``token`` the way the kubelet updates a projected volume: a new data directory swapped in atomically."""
    data = directory / f"..{generation}"
    data.mkdir()
    (data / "token").write_text(token)
    (directory / "..data_tmp").symlink_to(data.name)
    os.replace(directory / "..data_tmp", directory / "..data")
    if not (directory / "token").is_symlink():
        (directory / "token").symlink_to("..data/token")
    return directory / "token"


def test_a_rotated_token_file_is_used_from_the_next_call_on(server: FakeArgoServer, tmp_path: Path) -> None:
    token_file = project_token(tmp_path, TOKEN, 1)
    backend = ArgoBackend(
        ArgoSettings(feast_project="churn", server_url=server.url, token_file=token_file, namespace=NAMESPACE),
        code_repos=[CHURN_REPO],
    )
    name = submit_retrain(backend)
    assert backend.status(name).phase == RunPhase.PENDING

    server.token = "rotated-argo-token"
    with pytest.raises(PermanentError, match="401"):
        backend.status(name)
    project_token(tmp_path, "rotated-argo-token", 2)
    assert backend.status(name).phase == RunPhase.PENDING, "the new token is sent without a new backend"
    backend.close()


def test_an_unreadable_token_file_is_temporary_and_names_the_setting(server: FakeArgoServer, tmp_path: Path) -> None:
    backend = ArgoBackend(
        ArgoSettings(feast_project="churn", server_url=server.url, token_file=tmp_path / "absent", namespace=NAMESPACE),
        code_repos=[CHURN_REPO],
    )
    with pytest.raises(TemporaryError, match=r"workflows\.argo\.token_file"):
        submit_retrain(backend)
    (tmp_path / "absent").write_text("\n")
    with pytest.raises(TemporaryError, match="empty"):
        submit_retrain(backend)
    assert server.workflows == {}


def test_the_argo_backend_takes_exactly_one_token_source(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not both"):
        ArgoSettings(feast_project="churn", token=TOKEN, token_file=tmp_path / "token")
    with pytest.raises(ValidationError, match=r"workflows\.argo\.token_file"):
        WorkflowSettings(backend="argo")
    assert (
        WorkflowSettings(
            backend="argo", argo=ArgoSettings(feast_project="churn", token_file=tmp_path / "token")
        ).argo.token
        is None
    )


def test_the_argo_backend_is_told_its_feast_project(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"workflows\.argo\.feast_project"):
        WorkflowSettings(backend="argo", argo=ArgoSettings(token_file=tmp_path / "token"))


def test_a_timed_out_submit_is_temporary_and_its_retry_finds_the_run(server: FakeArgoServer) -> None:
    """The server may finish a create the client stopped waiting for; the retry must not start a second run."""
    backend = backend_for(server.url, timeout=0.5)
    server.faults.append(Fault(delay_seconds=2.0))
    with pytest.raises(TemporaryError, match="did not answer"):
        submit_retrain(backend)
    assert submit_retrain(backend) == "retrain-0123456789ab"
    assert list(server.workflows) == [(NAMESPACE, "retrain-0123456789ab")]


def test_a_server_that_is_not_listening_is_temporary() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TemporaryError):
        submit_retrain(backend_for(f"http://127.0.0.1:{port}"))


def test_status_of_an_unknown_run_is_permanent(backend: ArgoBackend) -> None:
    with pytest.raises(PermanentError, match="no workflow named nope-0"):
        backend.status("nope-0")


def test_status_timeout_is_temporary(server: FakeArgoServer) -> None:
    backend = backend_for(server.url, timeout=0.5)
    submit_retrain(backend)
    server.faults.append(Fault(delay_seconds=2.0))
    with pytest.raises(TemporaryError):
        backend.status("retrain-0123456789ab")


def node(name: str, phase: str, *, result: dict[str, Any] | None = None, message: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "id": f"retrain-0123456789ab-{name}",
        "name": f"retrain-0123456789ab.{name}",
        "displayName": name,
        "type": "Pod",
        "templateName": name,
        "phase": phase,
    }
    if result is not None:
        status["outputs"] = {"parameters": [{"name": "result", "value": json.dumps(result)}]}
    if message is not None:
        status["message"] = message
    return status


def test_status_reports_phase_and_step_outputs(server: FakeArgoServer, backend: ArgoBackend) -> None:
    name = submit_retrain(backend)
    server.set_status(NAMESPACE, name, {"phase": "Running", "nodes": {"a": node("etl", "Running")}})
    running = backend.status(name)
    assert (running.phase, running.finished, running.outputs) == (RunPhase.RUNNING, False, {})

    etl_result = {"rows_written": 50_000, "bad_rows": 12}
    register_result = {"model_name": "churn-xgb", "version": "7", "promoted": True}
    server.set_status(
        NAMESPACE,
        name,
        {
            "phase": "Succeeded",
            "nodes": {
                "a": node("etl", "Succeeded", result=etl_result),
                "b": node("register", "Succeeded", result=register_result),
            },
        },
    )
    done = backend.status(name)
    assert done.finished and done.phase is RunPhase.SUCCEEDED
    assert done.outputs == {"etl": etl_result, "register": register_result}


def test_a_failed_step_is_reported_with_its_name_and_error(server: FakeArgoServer, backend: ArgoBackend) -> None:
    name = submit_retrain(backend)
    server.set_status(
        NAMESPACE,
        name,
        {
            "phase": "Failed",
            "message": "child 'retrain-0123456789ab-1' failed",
            "nodes": {
                "a": node("etl", "Succeeded", result={"rows_written": 1}),
                "b": node("train", "Failed", message="Error (exit code 1): XGBoostError: label must be in [0,1]"),
            },
        },
    )
    failed = backend.status(name)
    assert failed.finished and failed.phase is RunPhase.FAILED
    assert "step train Failed: Error (exit code 1): XGBoostError" in failed.message
    assert failed.outputs == {"etl": {"rows_written": 1}}


def test_cancel_stops_the_run_and_tolerates_a_missing_one(server: FakeArgoServer, backend: ArgoBackend) -> None:
    name = submit_retrain(backend)
    backend.cancel(name)
    stopped = backend.status(name)
    assert stopped.finished and stopped.phase is RunPhase.FAILED
    assert "Stopped" in stopped.message
    assert server.workflows[(NAMESPACE, name)]["spec"]["shutdown"] == "Stop"
    backend.cancel("never-submitted-0")
    assert server.rejected == []


def test_cancel_during_an_outage_is_temporary(server: FakeArgoServer, backend: ArgoBackend) -> None:
    name = submit_retrain(backend)
    server.faults.append(Fault(status=503))
    with pytest.raises(TemporaryError, match="stopping workflow"):
        backend.cancel(name)


def test_the_factory_builds_the_argo_backend_from_its_settings_group(server: FakeArgoServer) -> None:
    settings = WorkflowSettings(
        backend="argo",
        argo=ArgoSettings(feast_project="churn", server_url=server.url, token=TOKEN),
        code_repos=[CHURN_REPO],
    )
    backend = make_backend(settings)
    assert isinstance(backend, ArgoBackend)
    assert submit_retrain(backend) in {name for _, name in server.workflows}
