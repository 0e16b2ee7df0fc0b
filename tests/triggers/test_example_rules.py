"""The commented example rules file drives real submissions that the Argo Server accepts.

Workflows are rendered by the product's pipeline factories and validated by
the Argo Server stand-in against the upstream schemas, so a template in
``mlops_gitops/rules.example.yaml`` (the rules ``config example`` prints
inline) that produced a bad parameter or a bad Workflow fails here, not in a
user's cluster.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops.mlflow_registry import MlflowModelRegistry
from gitops.policy import PromotionPolicy
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.triggers.events import BOT_EMAIL, data_notice, push
from tests.triggers.harness import FAST
from tests.workflows.argo_server import FakeArgoServer
from triggers.actions.registry import ACTION_SPECS, build_action_kinds
from triggers.dispatcher import Dispatcher
from triggers.event import Event, PushData
from triggers.ledger import Ledger
from triggers.ledger.records import EventState
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import parse_rules
from workflows.argo.backend import ArgoBackend
from workflows.settings import ArgoSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "mlops_gitops" / "rules.example.yaml"
TOKEN = "example-rules-token"

pytestmark = pytest.mark.slow  # the GitOps kinds' MLflow registry store takes a while to set up


def example_with_short_quiet_period() -> str:
    """The example file as shipped, except the data trigger's quiet period, so the test need not wait a minute."""
    yaml = YAML()
    document = yaml.load(EXAMPLE.read_text())
    for trigger in document["triggers"]:
        if "debounce" in trigger:
            trigger["debounce"]["quiet_seconds"] = 0.2
    text = io.StringIO()
    yaml.dump(document, text)
    return text.getvalue()


@pytest.fixture
def argo() -> Iterator[FakeArgoServer]:
    server = FakeArgoServer(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def dispatcher(sqlite_ledger: Ledger, argo: FakeArgoServer, tmp_path: Path) -> Iterator[Dispatcher]:
    settings = ArgoSettings(feast_project="churn", server_url=argo.url, token=TOKEN, namespace="mlops")
    backend = ArgoBackend(settings, code_repos=["https://git.example.com/acme/churn-model.git"])
    engine = RulesEngine(parse_rules(example_with_short_quiet_period(), ACTION_SPECS), bot_email=BOT_EMAIL)
    # the GitOps kinds are never reached here: nothing in these flows gets as far as a promotion
    gitops = GitOpsSettings(repo_url=str(tmp_path / "unused.git"), work_dir=str(tmp_path / "checkout"))
    registry = MlflowModelRegistry(f"sqlite:///{tmp_path / 'unused-registry.db'}")
    kinds = build_action_kinds(
        backend=backend, writer=GitOpsWriter(gitops, registry), policy=PromotionPolicy(gitops.policy)
    )
    yield Dispatcher(sqlite_ledger, engine, kinds, FAST)
    backend.close()


def dispatch_until_submitted(dispatcher: Dispatcher, argo: FakeArgoServer, count: int) -> None:
    for _ in range(500):
        if len(argo.workflows) >= count:
            return
        dispatcher.run_once()
    pytest.fail(f"expected {count} workflows, the Argo Server has {sorted(argo.workflows)}; rejected: {argo.rejected}")


def test_a_code_push_submits_a_valid_retrain_workflow(
    sqlite_ledger: Ledger, dispatcher: Dispatcher, argo: FakeArgoServer
) -> None:
    event = push(paths=("src/features.py",))
    assert isinstance(event.data, PushData)
    event = event.model_copy(
        update={"data": event.data.model_copy(update={"clone_url": "https://git.example.com/acme/churn-model.git"})}
    )
    sqlite_ledger.events.record(event)
    dispatch_until_submitted(dispatcher, argo, 1)
    assert argo.rejected == []
    ((_, name),) = argo.workflows
    assert name.startswith("retrain-")


def test_a_burst_of_data_notices_submits_one_valid_etl_workflow_then_the_retrain_follow_up(
    sqlite_ledger: Ledger, dispatcher: Dispatcher, argo: FakeArgoServer
) -> None:
    notices: list[Event] = [data_notice(partition=f"date=2026-11-{day:02d}") for day in (24, 25, 26, 26)]
    sqlite_ledger.events.record_many(notices)
    dispatch_until_submitted(dispatcher, argo, 1)
    ((namespace, etl_name),) = argo.workflows
    assert etl_name.startswith("data-etl-")
    argo.set_status(namespace, etl_name, {"phase": "Succeeded"})
    dispatch_until_submitted(dispatcher, argo, 2)
    assert argo.rejected == []
    (retrain_name,) = {name for _, name in argo.workflows} - {etl_name}
    assert retrain_name.startswith("retrain-")
    states = {sqlite_ledger.reads.get(e.id).state for e in notices[1:]}  # type: ignore[union-attr]
    assert states == {EventState.DONE}  # coalesced into the first notice's batch
