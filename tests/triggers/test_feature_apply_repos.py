"""``feature-apply`` runs ``feast apply``, which imports the definitions' code: only configured repositories."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.errors import PermanentError
from tests.triggers.events import push
from tests.workflows.argo_server import FakeArgoServer
from triggers.actions.base import ActionRequest, ActionStatus
from triggers.actions.workflow import WorkflowActionSpec, WorkflowPipelineAction
from triggers.rules.engine import action_context
from workflows.argo.backend import ArgoBackend
from workflows.settings import ArgoSettings

TOKEN = "feature-apply-argo-token"
ALLOWED = "https://git.example.com/ml/features.git"


@pytest.fixture
def backend() -> Iterator[tuple[ArgoBackend, FakeArgoServer]]:
    server = FakeArgoServer(token=TOKEN).start()
    argo = ArgoBackend(ArgoSettings(server_url=server.url, token=TOKEN, namespace="mlops"))
    yield argo, server
    argo.close()
    server.stop()


def apply_from(repo_url: str) -> tuple[WorkflowActionSpec, ActionRequest]:
    spec = WorkflowActionSpec.model_validate(
        {
            "kind": "workflow",
            "pipeline": "feature-apply",
            "params": {"repo_url": repo_url, "commit": "{{ data.after }}"},
        }
    )
    event = push()
    return spec, ActionRequest("features", f"features:{repo_url}", "action", event, (event,), action_context(event))


def test_feature_apply_runs_only_on_configured_repositories(backend: tuple[ArgoBackend, FakeArgoServer]) -> None:
    argo, server = backend
    action = WorkflowPipelineAction(argo, feature_apply_repos=[ALLOWED])
    with pytest.raises(PermanentError, match=r"workflows\.feature_apply_repos"):
        action.perform(*apply_from("https://git.example.com/someone/else.git"))
    assert len(server.workflows) == 0
    assert action.perform(*apply_from(ALLOWED)).status is ActionStatus.RUNNING
    assert len(server.workflows) == 1
