"""Promotions as the service makes them: the run's in-cluster ``mlflow server`` holds the registered versions,
and the service's rules and ``gitops-promotion`` action turn an alias move, or a retrain's outcome, into a
commit.

Each version is a real model, trained here as the pipelines' train step trains one and logged the same way
(``log_served_model``): a booster behind the scaffolded ML repository's ``prepare``, whose artifacts the server
keeps in the run's S3 store. The versions differ in boosting rounds, so their predictions tell them apart when
the model servers answer ``/predict``.

The rules are the deployed ones (``deploy/base/rules.yaml``); the service's rules engine picks the rule the event
matches (``deploy-on-champion-alias``: the promotion policy maps ``champion`` to production), and its action looks
the version up in the registry for its URI and run id before the service's GitOps writer commits and pushes.
What stays out is what other tests cover: the MLflow webhook's delivery and signature, the ledger and the
dispatcher's scheduling (the staging promotion after a retrain goes through all of them, in the service's own
pod: ``tests.cluster.service_in_cluster``).
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types import Schema

from core.errors import PermanentError
from gitops.mlflow_registry import MlflowModelRegistry
from gitops.policy import PromotionPolicy
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.upstream import REPO_ROOT
from tests.workflows.test_mlrepo_hooks import MODEL_HOOK
from triggers.actions.base import ActionRequest, ActionStatus
from triggers.actions.promotion import GitOpsPromotionAction, PromotionActionSpec
from triggers.actions.registry import ACTION_SPECS
from triggers.event import Event, EventType, ModelChange
from triggers.rules.engine import RulesEngine, action_context
from triggers.rules.loader import parse_rules
from workflows.mlrepo.model import RepoModel
from workflows.mlrepo.scaffold import template_root
from workflows.steps.evaluate import registered_model
from workflows.steps.model_logging import log_served_model

MODEL_NAME = "churn-xgb"
ENTITY_KEY = "customer_id"
LABEL = "churned"
BOOSTER_PARAMS = {"max_depth": 3, "eta": 0.3}
CHAMPION = "champion"  # the default promotion policy deploys it to production
DEPLOYED_RULES = REPO_ROOT / "deploy" / "base" / "rules.yaml"


class Registry:
    """Registered versions of :data:`MODEL_NAME` in a real MLflow server, and the deployed rules."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.registry = MlflowModelRegistry(tracking_uri)
        self.rules = parse_rules(DEPLOYED_RULES.read_text(), ACTION_SPECS, source=str(DEPLOYED_RULES))

    def register(self, rows: pd.DataFrame, rounds: list[int]) -> list[str]:
        """One version per entry of ``rounds``, each a model trained on ``rows`` with that many boosting rounds."""
        mlflow.set_tracking_uri(self.tracking_uri)
        experiment = self.client.create_experiment("cluster-test")
        model = RepoModel("train", template_root(), MODEL_HOOK, BOOSTER_PARAMS)
        features, labels = model.prepare(rows)
        raw = rows.drop(columns=[ENTITY_KEY, LABEL])
        versions = []
        for count in rounds:
            booster = xgb.train(model.booster_params(), xgb.DMatrix(features, label=labels), num_boost_round=count)
            booster.feature_names = list(features.columns)
            with mlflow.start_run(experiment_id=experiment):
                info = log_served_model(
                    booster, model, raw, label=LABEL, hyperparameters=BOOSTER_PARAMS, repository_requirements=()
                )
            versions.append(str(mlflow.register_model(info.model_uri, MODEL_NAME).version))
        return versions

    def expected_scores(self, version: str, rows: pd.DataFrame) -> list[float]:
        """What ``version`` predicts for ``rows``, loaded here through pyfunc as the model server loads it, with
        the repository code the model carries importable while it predicts, and each column of the types its
        signature names (the online store gives 64-bit integers; a retrained model may take 32-bit ones)."""
        with registered_model(f"models:/{MODEL_NAME}/{version}") as loaded:
            signature: ModelSignature | None = loaded.metadata.signature
            assert signature is not None and isinstance(signature.inputs, Schema), "logged with its signature"
            schema = signature.inputs
            names = [str(name) for name in schema.input_names()]
            typed = pd.DataFrame(
                {name: rows[name].astype(dtype) for name, dtype in zip(names, schema.numpy_types(), strict=True)}
            )
            return [float(score) for score in np.asarray(loaded.predict(typed))]

    def move_alias(self, version: str, settings: GitOpsSettings) -> str:
        """Point ``champion`` at ``version`` in MLflow and perform the promotion its event triggers, as a service
        with ``settings`` does; the commit's SHA."""
        self.client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        event = Event(
            source="mlflow/registry",
            type=EventType.MODEL_ALIAS_CHANGED,
            subject=f"{MODEL_NAME}/{version}",
            data=ModelChange(model_name=MODEL_NAME, version=version, alias=CHAMPION),
            idempotency_key=f"cluster-test-alias-{version}",
        )
        (rule,) = RulesEngine(self.rules, bot_email=settings.bot_email).evaluate(event).matched
        spec = rule.stages[0].spec
        if not isinstance(spec, PromotionActionSpec):
            raise PermanentError(f"rule {rule.name} answers {event.type} with {spec.kind}, not a promotion")
        field = rule.stages[0].field
        context = action_context(event)
        request = ActionRequest(rule.name, f"{rule.name}:{event.id}:{field}", field, event, (event,), context)
        writer = GitOpsWriter(settings, self.registry)
        action = GitOpsPromotionAction(writer, PromotionPolicy(settings.policy))
        outcome = action.perform(spec, request)
        if outcome.status != ActionStatus.SUCCEEDED or not outcome.target:
            raise PermanentError(f"{rule.name} committed nothing: {outcome.message}")
        return outcome.target
