"""The three flows end to end on the embedded stack: listener, ledger, rule, local run, MLflow, GitOps commit.

Everything is real: ``mlops-gitops serve`` runs as a child process on the
local backend (Prefect flows with Spark local, Feast sqlite and a local Ray),
against the session's ``mlflow server`` and two bare git remotes; the outside
world (a developer's push with GitHub's signed webhook, S3 bucket notices, a
reviewer's stage move in MLflow) is played by the demo's own ``World``.

One world is shared by the module so Spark, Ray and Prefect start once. The
flows run in the order data, production, push, each a module fixture building
on the one before: the data-triggered model is deliberately weak and becomes
the champion in production, so the pushed configuration must really beat a
champion to reach staging.
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from devtools.demo.workspace import BUCKET, DATASET_PATH, DERIVED_FEATURE, Scenario, Workspace
from devtools.demo.world import World
from devtools.devstack.git_payloads import git
from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.service_process import ServiceProcess
from gitops.lineage import MLFLOW_RUN_ID, MODEL_NAME, MODEL_VERSION, TRAINING_COMMIT, TRIGGER_EVENT_ID, parse_trailers
from tests.infra.git_remote import GitRemoteFactory
from triggers.event import DataArrival, EventType, ModelChange, PushData
from triggers.ledger import Ledger
from triggers.ledger.records import ActionRecord, EventRecord, EventState
from workflows.steps.model_registry import TAG_GIT_SHA, TAG_TRIGGER_EVENT_ID, TAG_WORKFLOW_NAME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

MODEL = "churn-local-flows"
# Three boosting rounds of stumps: clears the gate's bar, but any full model beats it.
WEAK_PARAMS = "max_depth: 1\nlearning_rate: 0.2\nn_estimators: 3\nrandom_state: 42\n"
FULL_PARAMS = "max_depth: 4\nlearning_rate: 0.2\nn_estimators: 60\nsubsample: 0.9\nrandom_state: 42\n"
SCENARIO = Scenario(
    model_name=MODEL,
    rows_per_day=1_000,
    history_days=0,
    new_days=3,
    training_params=WEAK_PARAMS,
    pushed_params=FULL_PARAMS,
    push_message="Train the full model: depth 4, 60 rounds",
)
SETTLE_TIMEOUT_S = 900  # a safety net only: each flow takes about 4 minutes here, a loaded machine a few times that


@dataclass
class Stack:
    workspace: Workspace
    service: ServiceProcess
    world: World
    ledger: Ledger
    registry: MlflowClient
    initial_commit: str

    def record(self, event_id: str) -> EventRecord:
        found = self.ledger.reads.get(event_id)
        assert found is not None, f"event {event_id} is not in the ledger"
        return found

    def settle(self, *event_ids: str) -> list[EventRecord]:
        """Wait until the events and their actions finished; an event that failed fails the test with its reason."""
        try:
            self.world.wait_settled(list(event_ids), "events", timeout=SETTLE_TIMEOUT_S)
        except TimeoutError as e:
            pytest.fail(self.stuck(str(e)))
        records = [self.record(event_id) for event_id in event_ids]
        failures = [f"{r.event.id}: {r.last_error}" for r in records if r.state is not EventState.DONE]
        assert not failures, f"events did not finish (service log: {self.service.log}): {failures}"
        return records

    def events_until(self, done: Callable[[list[EventRecord]], bool], what: str) -> list[EventRecord]:
        """The ledger's latest events once ``done`` holds for them; ``what`` failed if it never does."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            events = self.ledger.reads.list_events(limit=200)
            if done(events):
                return events
            time.sleep(0.5)
        pytest.fail(self.stuck(what))

    def stuck(self, what: str) -> str:
        """``what`` timed out, with where the service is: every thread's stack and the end of its log."""
        return f"{what}\n--- service threads and log tail ---\n{self.service.dump_stacks()}"

    def flow_runs(self) -> dict[str, tuple[str, str]]:
        """Prefect's own record of the local runs: flow run name -> (flow name, final state type)."""
        database = self.workspace.pipelines_dir / "prefect" / "prefect.db"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "SELECT flow_run.name, flow.name, flow_run.state_type"
                " FROM flow_run JOIN flow ON flow.id = flow_run.flow_id"
            ).fetchall()
        return {run: (flow, state) for run, flow, state in rows}

    def version(self, version: str) -> ModelVersion:
        return self.registry.get_model_version(MODEL, version)


@dataclass(frozen=True)
class GitOpsCommit:
    sha: str
    changed: list[str]
    trailers: dict[str, str]

    @classmethod
    def read(cls, remote: Workspace, sha: str) -> GitOpsCommit:
        bare = remote.gitops_remote
        changed = git(bare, "show", "--name-only", "--format=", sha).splitlines()
        return cls(sha, changed, parse_trailers(git(bare, "show", "-s", "--format=%B", sha)))


def statuses(record: EventRecord) -> list[tuple[str, str]]:
    """(kind, status) of each action recorded on the event, in the order they ran."""
    return [(action.kind, action.status) for action in record.actions]


def register_output(action: ActionRecord) -> dict[str, Any]:
    result: dict[str, Any] = action.detail["outputs"]["register"]
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mlflow_server: MlflowServer) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("local-flows")
    remotes = GitRemoteFactory(tmp_path_factory.mktemp("remotes"))
    workspace = Workspace.create(
        root,
        mlflow_server,
        ml_remote=remotes.create("churn-model"),
        gitops_remote=remotes.create("gitops"),
        scenario=SCENARIO,
    )
    workspace.bootstrap_feature_store()
    service = ServiceProcess.start(workspace.config, root / "service.log")
    world = World(workspace, service.url, say=print)
    ledger = Ledger.open(f"sqlite:///{workspace.service_dir / 'ledger.db'}", migrate=False)
    try:
        yield Stack(workspace, service, world, ledger, MlflowClient(mlflow_server.tracking_uri), workspace.head())
    finally:
        ledger.close()
        world.close()
        service.stop()


@pytest.fixture(scope="module")
def data_flow(stack: Stack) -> list[EventRecord]:
    """Each new partition announced twice, as S3 redelivers; the notices settle into one ETL and one retrain."""
    return stack.settle(*stack.world.notify_new_partitions())


@pytest.fixture(scope="module")
def data_trained(data_flow: list[EventRecord]) -> dict[str, Any]:
    """What the data-triggered retrain registered (its ``register`` step outputs)."""
    return next(register_output(a) for r in data_flow for a in r.actions if a.detail.get("pipeline") == "retrain")


@pytest.fixture(scope="module")
def data_trained_version(data_trained: dict[str, Any]) -> str:
    return str(data_trained["model_version"])


@pytest.fixture(scope="module")
def production_flow(stack: Stack, data_trained_version: str) -> tuple[EventRecord, GitOpsCommit]:
    """The data-trained version moved to Production in MLflow; the watcher sees it and it is deployed.

    The move starts once the watcher has seen the version in Staging: a poll sees stages, not the moves between
    them, so a version that left Staging before the next poll would be reported as coming from where it was seen.
    """
    stack.events_until(
        lambda events: bool(moves_to(events, "Staging", data_trained_version)),
        f"the watcher did not record version {data_trained_version}'s move to Staging",
    )
    before, _ = stack.world.gitops_head()
    stack.world.promote_to_production(data_trained_version)
    try:
        sha, _ = stack.world.wait_for_gitops_commit(before, timeout=SETTLE_TIMEOUT_S)
    except TimeoutError as e:
        pytest.fail(stack.stuck(str(e)))
    events = stack.events_until(
        lambda events: (
            bool(moved := moves_to(events, "Production")) and all(record.state is EventState.DONE for record in moved)
        ),
        "the move to Production was not recorded as a finished event",
    )
    (record,) = moves_to(events, "Production")
    return record, GitOpsCommit.read(stack.workspace, sha)


def moves_to(events: list[EventRecord], stage: str, version: str | None = None) -> list[EventRecord]:
    """The recorded moves to ``stage``, of ``version`` when given."""
    return [
        record
        for record in events
        if isinstance(change := record.event.data, ModelChange)
        and change.to_stage == stage
        and version in (None, change.version)
    ]


@pytest.fixture(scope="module")
def push_flow(stack: Stack, production_flow: tuple[EventRecord, GitOpsCommit]) -> tuple[EventRecord, str]:
    """A real push of the full training configuration, with GitHub's signed webhook, once a champion serves."""
    event_id = stack.world.push_code_change()
    (record,) = stack.settle(event_id)
    return record, stack.workspace.head()


def test_data_notices_are_coalesced_into_one_etl_and_retrain_deployed_to_staging(
    stack: Stack, data_flow: list[EventRecord]
) -> None:
    arrivals = stack.workspace.arrivals
    assert len(data_flow) == len(arrivals), "each partition's redelivered notice must be the same event"
    assert all(record.duplicates == 1 for record in data_flow)
    assert {r.event.type for r in data_flow} == {EventType.DATA_ARRIVED}
    assert {r.event.data.dataset for r in data_flow if isinstance(r.event.data, DataArrival)} == {
        f"{BUCKET}/{DATASET_PATH}"
    }
    leaders = [record for record in data_flow if statuses(record) != [("workflow", "coalesced")]]
    assert len(leaders) == 1, "the batch acts once, recorded on the event that opened it"
    (first,) = leaders
    assert statuses(first) == [("workflow", "succeeded"), ("workflow", "succeeded"), ("gitops-promotion", "succeeded")]
    etl, retrain, promotion = first.actions
    followers = [action for record in data_flow if record is not first for action in record.actions]
    assert {action.detail["leader_event"] for action in followers} == {first.event.id}
    (batch,) = {action.target for action in followers}
    assert etl.action_key == f"etl-and-retrain-on-data:batch-{batch}"
    assert etl.detail["pipeline"] == "data-etl" and retrain.detail["pipeline"] == "retrain"
    assert sorted(etl.detail["events"]) == sorted(record.event.id for record in data_flow)
    partitions = [r.event.data.partition for r in data_flow if isinstance(r.event.data, DataArrival)]
    assert sorted(partitions) == sorted(arrivals)

    flow_runs = stack.flow_runs()
    assert flow_runs[etl.target] == ("data-etl", "COMPLETED")
    assert flow_runs[retrain.target] == ("retrain", "COMPLETED")

    registered = register_output(retrain)
    assert registered["promoted"] is True and registered["champion_metric"] is None
    version = stack.version(str(registered["model_version"]))
    assert version.current_stage == "Staging"
    assert version.run_id == registered["run_id"]
    assert version.tags[TAG_GIT_SHA] == stack.initial_commit
    assert version.tags[TAG_TRIGGER_EVENT_ID] == first.event.id
    assert version.tags[TAG_WORKFLOW_NAME] == retrain.target

    commit = GitOpsCommit.read(stack.workspace, promotion.target)
    assert commit.changed == ["overlays/staging/kustomization.yaml"]
    assert commit.trailers[MODEL_NAME] == MODEL
    assert commit.trailers[MODEL_VERSION] == version.version
    assert commit.trailers[MLFLOW_RUN_ID] == registered["run_id"]
    assert commit.trailers[TRAINING_COMMIT] == stack.initial_commit
    assert commit.trailers[TRIGGER_EVENT_ID] == first.event.id


def test_a_move_to_production_in_mlflow_is_committed_to_the_production_overlay(
    stack: Stack, production_flow: tuple[EventRecord, GitOpsCommit], data_trained_version: str
) -> None:
    record, commit = production_flow
    assert isinstance(record.event.data, ModelChange)
    assert (record.event.data.model_name, record.event.data.version) == (MODEL, data_trained_version)
    assert (record.event.data.from_stage, record.event.data.to_stage) == ("Staging", "Production")
    (deploy,) = record.actions
    assert (deploy.kind, deploy.rule, deploy.status, deploy.target) == (
        "gitops-promotion",
        "deploy-on-production-stage",
        "succeeded",
        commit.sha,
    )
    assert commit.changed == ["overlays/production/kustomization.yaml"]
    assert commit.trailers[MODEL_VERSION] == data_trained_version
    assert commit.trailers[MLFLOW_RUN_ID] == stack.version(data_trained_version).run_id
    assert commit.trailers[TRIGGER_EVENT_ID] == record.event.id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert stack.version(data_trained_version).current_stage == "Production"


def test_a_push_retrains_at_the_pushed_commit_and_the_winner_over_the_champion_goes_to_staging(
    stack: Stack, push_flow: tuple[EventRecord, str], data_trained: dict[str, Any]
) -> None:
    record, pushed = push_flow
    assert pushed != stack.initial_commit
    assert isinstance(record.event.data, PushData) and record.event.data.after == pushed
    assert record.state is EventState.DONE
    assert statuses(record) == [("workflow", "succeeded"), ("gitops-promotion", "succeeded")]
    retrain, promotion = record.actions
    assert retrain.rule == "retrain-on-push" and retrain.detail["pipeline"] == "retrain"
    assert stack.flow_runs()[retrain.target] == ("retrain", "COMPLETED")

    registered = register_output(retrain)
    assert registered["training_commit"] == pushed
    trained = retrain.detail["outputs"]["train"]
    assert trained["features"][-1] == DERIVED_FEATURE, "the pushed model class's derived feature was trained on"
    assert stack.registry.get_run(trained["run_id"]).data.tags[TAG_GIT_SHA] == pushed
    assert registered["promoted"] is True
    assert registered["champion_metric"] == pytest.approx(data_trained["metric"]), "production serves the champion"
    assert registered["metric"] > registered["champion_metric"]
    version = stack.version(str(registered["model_version"]))
    assert version.current_stage == "Staging"
    assert version.tags[TAG_GIT_SHA] == pushed
    assert version.tags[TAG_TRIGGER_EVENT_ID] == record.event.id
    assert version.tags[TAG_WORKFLOW_NAME] == retrain.target

    commit = GitOpsCommit.read(stack.workspace, promotion.target)
    assert commit.changed == ["overlays/staging/kustomization.yaml"]
    assert commit.trailers[MODEL_VERSION] == version.version
    assert commit.trailers[TRAINING_COMMIT] == pushed
    assert commit.trailers[TRIGGER_EVENT_ID] == record.event.id
    assert git(stack.workspace.gitops_remote, "rev-parse", "main") == commit.sha
