"""The three flows through the product's own action kinds.

Real pieces: the ledger, the dispatcher, the Argo backend talking HTTP to the
Argo Server stand-in (which validates every Workflow against the upstream
schemas and lets the test play the workflow controller), the GitOps writer
committing to a bare git remote, and a real MLflow model registry (its SQLite store).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from gitops.checkout import LOG_FORMAT, LoggedCommit, parse_log
from gitops.lineage import parse_trailers
from gitops.mlflow_registry import MlflowModelRegistry
from gitops.policy import PromotionPolicy
from gitops.scaffold import init_repo
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.gitops.repos import CHURN_SERVER
from tests.infra.git_remote import GitRemoteFactory
from tests.triggers.events import push, stage_change
from tests.triggers.harness import FAST
from tests.workflows.argo_server import FakeArgoServer, Fault
from triggers.actions.base import ActionRequest
from triggers.actions.registry import ACTION_SPECS, ActionKinds, build_action_kinds
from triggers.dispatcher import Dispatcher
from triggers.event import Commit, Event, EventType, PushData
from triggers.ledger import Ledger
from triggers.ledger.records import EventState
from triggers.rules.engine import RulesEngine, action_context
from triggers.rules.loader import parse_rules
from workflows.argo.backend import ArgoBackend
from workflows.naming import run_name
from workflows.settings import ArgoSettings

MODEL = "churn-flows"
NAMESPACE = "mlops"
TOKEN = "flows-argo-token"

pytestmark = pytest.mark.slow  # each test sets up a GitOps remote and an MLflow registry
BOT = ("mlops-gitops[bot]", "mlops-gitops-bot@users.noreply.local")

RULES = f"""
triggers:
  - name: retrain-on-push
    on: [git.push]
    filters: {{branches: [main], paths: ["src/*"]}}
    action:
      kind: workflow
      pipeline: retrain
      params: {{repo_url: "{{{{ data.clone_url }}}}", commit: "{{{{ data.after }}}}", model_name: {MODEL}}}
    then:
      - when: "outputs.register.promoted"
        action:
          kind: gitops-promotion
          environment: staging
          model_name: "{{{{ outputs.register.model_name }}}}"
          version: "{{{{ outputs.register.model_version }}}}"
          training_commit: "{{{{ data.after }}}}"
  - name: deploy-on-production
    on: [model.stage.changed]
    filters: {{models: [{MODEL}], stage: {{to: [Production]}}}}
    action: {{kind: gitops-promotion}}
  - name: rollback-on-demotion
    on: [model.stage.changed]
    filters: {{models: [{MODEL}], stage: {{from: [Production], to: [Archived]}}}}
    action: {{kind: gitops-rollback, environment: production}}
"""


@dataclass
class Flows:
    ledger: Ledger
    dispatcher: Dispatcher
    engine: RulesEngine
    kinds: ActionKinds
    argo: FakeArgoServer
    remote: Path
    versions: list[str]

    def settle(self, event_id: str, state: EventState = EventState.DONE) -> None:
        for _ in range(2000):
            record = self.ledger.reads.get(event_id)
            assert record is not None
            if record.state == state:
                return
            self.dispatcher.run_once()
        pytest.fail(f"event {event_id} never reached {state}: {self.ledger.reads.get(event_id)}")

    def log(self) -> list[LoggedCommit]:
        command = ["git", "--git-dir", str(self.remote), "log", "-z", "--reverse", f"--format={LOG_FORMAT}", "main"]
        return parse_log(subprocess.run(command, capture_output=True, text=True, check=True).stdout)

    def deployed(self, environment: str) -> str:
        text = subprocess.run(
            ["git", "--git-dir", str(self.remote), "show", f"main:overlays/{environment}/kustomization.yaml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return next(line.split("=", 1)[1] for line in text.splitlines() if line.strip().startswith("- MODEL_VERSION="))


@pytest.fixture(scope="module")
def registry_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real MLflow model registry in its SQLite store (the embedded mode; no server process needed here)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'registry.db'}"


@pytest.fixture(scope="module")
def model_versions(registry_uri: str) -> list[str]:
    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    experiment = client.create_experiment(f"trigger-flows-{uuid.uuid4().hex[:8]}")
    client.create_registered_model(MODEL)
    versions = []
    for _ in range(3):
        run = client.create_run(experiment)
        client.set_terminated(run.info.run_id)
        versions.append(
            str(client.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id).version)
        )
    return versions


@pytest.fixture
def flows(
    tmp_path: Path,
    sqlite_ledger: Ledger,
    git_remote_factory: GitRemoteFactory,
    registry_uri: str,
    model_versions: list[str],
) -> Iterator[Flows]:
    template = tmp_path / "template"
    served = CHURN_SERVER.model_copy(update={"model_name": MODEL})
    files = init_repo(template, repo_url="https://git.example.com/ml/gitops.git", author=BOT, scaffold=served)
    remote = git_remote_factory.create(
        "gitops", initial_files={str(p.relative_to(template)): p.read_text() for p in files}
    )
    gitops_settings = GitOpsSettings(repo_url=str(remote), work_dir=str(tmp_path / "checkout"))
    registry = MlflowModelRegistry(registry_uri)
    argo = FakeArgoServer(token=TOKEN).start()
    settings = ArgoSettings(feast_project="churn", server_url=argo.url, token=TOKEN, namespace=NAMESPACE)
    backend = ArgoBackend(settings, code_repos=["https://git.example.com/acme/churn-model.git"])
    kinds = build_action_kinds(
        backend=backend,
        writer=GitOpsWriter(gitops_settings, registry),
        policy=PromotionPolicy(gitops_settings.policy),
    )
    engine = RulesEngine(parse_rules(RULES, ACTION_SPECS), bot_email=gitops_settings.bot_email)
    dispatcher = Dispatcher(sqlite_ledger, engine, kinds, FAST)
    yield Flows(sqlite_ledger, dispatcher, engine, kinds, argo, remote, model_versions)
    backend.close()
    argo.stop()


def code_push() -> Event:
    event = push(paths=("src/train.py",))
    assert isinstance(event.data, PushData)
    data = event.data.model_copy(update={"clone_url": "https://git.example.com/acme/churn-model.git"})
    return event.model_copy(update={"data": data})


def register_node(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "register",
        "name": "register",
        "displayName": "register",
        "type": "Pod",
        "templateName": "register",
        "phase": "Succeeded",
        "outputs": {"parameters": [{"name": "result", "value": json.dumps(result)}]},
    }


def test_push_retrains_and_a_winning_run_is_promoted_to_staging(flows: Flows) -> None:
    event = code_push()
    flows.ledger.events.record(event)
    for _ in range(50):
        if flows.argo.workflows:
            break
        flows.dispatcher.run_once()
    ((namespace, name),) = flows.argo.workflows
    assert name == run_name("retrain", f"retrain-on-push:{event.id}")
    submitted = flows.argo.workflows[(namespace, name)]
    assert submitted["metadata"]["labels"]["mlops-gitops.io/rule"] == "retrain-on-push"

    # the Argo Server has a bad moment while the run is followed: one failed check, counted on the running action
    flows.argo.faults.append(Fault(status=503))
    for _ in range(2000):
        (following,) = flows.ledger.reads.get(event.id).actions  # type: ignore[union-attr]
        if following.state.poll_failures:
            break
        flows.dispatcher.run_once()
    assert (following.status, following.target, following.state.poll_failures) == ("running", name, 1)
    assert "503" in (following.state.last_error or "")
    assert flows.ledger.reads.get(event.id).state == EventState.RECEIVED  # type: ignore[union-attr]

    version = flows.versions[0]
    result = {"model_name": MODEL, "model_version": version, "promoted": True}
    flows.argo.set_status(NAMESPACE, name, {"phase": "Succeeded", "nodes": {"register": register_node(result)}})
    flows.settle(event.id)

    workflow_action, promotion = flows.ledger.reads.get(event.id).actions  # type: ignore[union-attr]
    assert (workflow_action.kind, workflow_action.target, workflow_action.status) == ("workflow", name, "succeeded")
    assert workflow_action.detail["phase"] == "Succeeded"
    assert workflow_action.detail["params"]["commit"] == event.data.after  # type: ignore[union-attr]
    assert promotion.kind == "gitops-promotion" and promotion.status == "succeeded"
    head = flows.log()[-1]
    assert promotion.target == head.sha
    assert flows.deployed("staging") == version
    trailers = parse_trailers(head.message)
    assert trailers["Trigger-Event-Id"] == event.id


def test_production_stage_deploys_demotion_rolls_back_and_the_bots_push_starts_nothing(flows: Flows) -> None:
    first, second = flows.versions[1], flows.versions[2]
    for version in (first, second):
        promoted = stage_change(model=MODEL, version=version, from_stage="Staging", to_stage="Production")
        flows.ledger.events.record(promoted)
        flows.settle(promoted.id)
        assert flows.deployed("production") == version

    bot_commit = flows.log()[-1]
    own_push = Event(
        source="github/ml/gitops",
        type=EventType.GIT_PUSH,
        subject="refs/heads/main",
        data=PushData(
            host="github",
            repo="ml/gitops",
            ref="refs/heads/main",
            before="0" * 40,
            after=bot_commit.sha,
            commits=(
                Commit(
                    id=bot_commit.sha,
                    message=bot_commit.message,
                    author_email=BOT[1],
                    modified=("overlays/production/kustomization.yaml",),
                ),
            ),
        ),
        idempotency_key=f"gh-{uuid.uuid4()}",
    )
    flows.ledger.events.record(own_push)
    flows.settle(own_push.id, EventState.IGNORED)

    demoted = stage_change(model=MODEL, version=second, from_stage="Production", to_stage="Archived")
    flows.ledger.events.record(demoted)
    flows.settle(demoted.id)
    assert flows.deployed("production") == first
    (rollback,) = flows.ledger.reads.get(demoted.id).actions  # type: ignore[union-attr]
    assert rollback.kind == "gitops-rollback" and rollback.target == flows.log()[-1].sha


def test_a_crash_between_submitted_and_recorded_is_healed_by_the_retry(flows: Flows) -> None:
    event = code_push()
    flows.ledger.events.record(event)
    stage = flows.engine.rules["retrain-on-push"].stages[0]
    key = f"retrain-on-push:{event.id}"
    # a dispatcher submitted the run, then died before recording it
    request = ActionRequest("retrain-on-push", key, "action", event, (event,), action_context(event))
    flows.kinds["workflow"].perform(stage.spec, request)
    assert flows.argo.create_requests == 1

    for _ in range(50):
        if flows.ledger.actions.get(key):
            break
        flows.dispatcher.run_once()
    assert flows.argo.create_requests == 2  # the retry submitted again ...
    assert len(flows.argo.workflows) == 1  # ... and found the run already there
    assert flows.ledger.actions.get(key).status == "running"  # type: ignore[union-attr]


def test_a_parameter_outside_the_pipelines_allow_list_is_refused_before_submitting(flows: Flows) -> None:
    event = code_push()
    assert isinstance(event.data, PushData)
    hostile = event.data.model_copy(update={"clone_url": "--upload-pack=touch /tmp/pwned"})
    event = event.model_copy(update={"data": hostile})
    flows.ledger.events.record(event)
    flows.settle(event.id, EventState.DEAD_LETTERED)
    error = flows.ledger.reads.get(event.id).last_error or ""  # type: ignore[union-attr]
    assert "pipeline 'retrain' refuses its parameters: params.repo_url" in error
    assert flows.argo.create_requests == 0
