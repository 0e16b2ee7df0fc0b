"""Promotions as the service makes them when MLflow moves the ``champion`` alias: a real ``mlflow server``
holds the registered versions, and the service's rules and ``gitops-promotion`` action turn the alias event into
a commit.

The rules are the deployed ones (``deploy/base/rules.yaml``); the service's rules engine picks the rule the event
matches (``deploy-on-champion-alias``: no environment named, so the promotion policy maps ``champion`` to
production), and its action looks the version up in the registry for its URI and run id before the service's
GitOps writer commits and pushes. What stays out is what other tests cover: the MLflow webhook's delivery and
signature, the ledger and the dispatcher's scheduling.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow import MlflowClient

from core.errors import PermanentError
from devtools.devstack.mlflow_server import MlflowServer
from gitops.mlflow_registry import MlflowModelRegistry
from gitops.policy import PromotionPolicy
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.upstream import REPO_ROOT
from triggers.actions.base import ActionRequest, ActionStatus
from triggers.actions.promotion import GitOpsPromotionAction, PromotionActionSpec
from triggers.actions.registry import ACTION_SPECS
from triggers.event import Event, EventType, ModelChange
from triggers.rules.engine import RulesEngine, action_context
from triggers.rules.loader import parse_rules

MODEL_NAME = "churn-xgb"
ALIAS = "champion"  # the default promotion policy deploys it to production
ENVIRONMENT = "production"
DEPLOYED_RULES = REPO_ROOT / "deploy" / "base" / "rules.yaml"


class Registry:
    """Registered versions of :data:`MODEL_NAME` in a real MLflow server, and the deployed rules."""

    def __init__(self, server: MlflowServer) -> None:
        self.client = MlflowClient(tracking_uri=server.tracking_uri, registry_uri=server.tracking_uri)
        self.registry = MlflowModelRegistry(server.tracking_uri)
        self.rules = parse_rules(DEPLOYED_RULES.read_text(), ACTION_SPECS, source=str(DEPLOYED_RULES))

    def register(self, count: int) -> list[str]:
        """``count`` versions, each from a finished run of its own (no artifacts: nothing loads them here)."""
        experiment = self.client.create_experiment("cluster-test")
        self.client.create_registered_model(MODEL_NAME)
        versions = []
        for _ in range(count):
            run = self.client.create_run(experiment)
            self.client.set_terminated(run.info.run_id)
            created = self.client.create_model_version(
                MODEL_NAME, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, await_creation_for=0
            )
            versions.append(str(created.version))
        return versions

    def move_alias(self, version: str, settings: GitOpsSettings) -> str:
        """Point the alias at ``version`` in MLflow and perform the action its event triggers, as a service with
        ``settings`` does; the commit's SHA."""
        self.client.set_registered_model_alias(MODEL_NAME, ALIAS, version)
        event = Event(
            source="mlflow/registry",
            type=EventType.MODEL_ALIAS_CHANGED,
            subject=f"{MODEL_NAME}/{version}",
            data=ModelChange(model_name=MODEL_NAME, version=version, alias=ALIAS),
            idempotency_key=f"cluster-test-alias-{version}",
        )
        (rule,) = RulesEngine(self.rules, bot_email=settings.bot_email).evaluate(event).matched
        spec = rule.stages[0].spec
        if not isinstance(spec, PromotionActionSpec):
            raise PermanentError(f"rule {rule.name} answers an alias move with {spec.kind}, not a promotion")
        request = ActionRequest(rule.name, f"{rule.name}:{event.id}", "action", event, (event,), action_context(event))
        writer = GitOpsWriter(settings, self.registry)
        action = GitOpsPromotionAction(writer, PromotionPolicy(settings.policy))
        outcome = action.perform(spec, request)
        if outcome.status != ActionStatus.SUCCEEDED or not outcome.target:
            raise PermanentError(f"the promotion of version {version} committed nothing: {outcome.message}")
        return outcome.target


@contextmanager
def registry(work: Path) -> Iterator[Registry]:
    server = MlflowServer.start(work)
    try:
        yield Registry(server)
    finally:
        server.stop()
