"""Register the trained model in MLflow and promote it when the gate said so.

Every trained model becomes a registry version carrying its lineage (git SHA,
data partitions, feature views, trigger event, workflow), promoted or not, so
the registry is the complete history. Promotion is the one configured move:
stage ``Staging`` or alias ``challenger``; either is what the registry watcher
turns into a GitOps commit.
"""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient
from pydantic import BaseModel

from core.logging import get_logger
from workflows.params import RetrainParams
from workflows.steps.contract import StepRequest
from workflows.steps.evaluate import EvaluateOutput
from workflows.steps.model_registry import mlflow_errors
from workflows.steps.train import TrainOutput

log = get_logger(__name__)


class RetrainOutput(BaseModel):
    """The retrain pipeline's result; the dispatcher chains a GitOps promotion on it."""

    model_name: str
    model_version: str
    model_uri: str
    run_id: str
    metric_name: str
    metric: float
    champion_metric: float | None
    promoted: bool
    training_commit: str


def register(request: StepRequest[RetrainParams]) -> RetrainOutput:
    params = request.params
    trained = request.upstream_output("train", TrainOutput)
    verdict = request.upstream_output("evaluate", EvaluateOutput)
    client = MlflowClient(request.runtime.mlflow_tracking_uri)
    tags = {
        **trained.lineage,
        f"mlops.holdout_{verdict.metric_name}": f"{verdict.metric:.6f}",
        "mlops.gate": verdict.reason,
        "mlops.promoted": str(verdict.promote).lower(),
    }
    with mlflow_errors(f"register a version of {params.model_name}"):
        mlflow.set_tracking_uri(request.runtime.mlflow_tracking_uri)
        version = mlflow.register_model(trained.model_uri, params.model_name, tags=tags).version
        if verdict.promote and params.gate.promote_to == "Staging":
            client.transition_model_version_stage(params.model_name, version, "Staging")
        elif verdict.promote:
            client.set_registered_model_alias(params.model_name, params.gate.promote_to, version)
    output = RetrainOutput(
        model_name=params.model_name,
        model_version=str(version),
        model_uri=f"models:/{params.model_name}/{version}",
        run_id=trained.run_id,
        metric_name=verdict.metric_name,
        metric=verdict.metric,
        champion_metric=verdict.champion_metric,
        promoted=verdict.promote,
        training_commit=trained.training_commit,
    )
    log.info("register.done", **output.model_dump())
    return output
