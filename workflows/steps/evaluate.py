"""The evaluation gate: may the new model replace the one serving now?

Candidate and champion are scored on the same hold-out rows, with the metric,
the absolute threshold and the required margin over the champion all taken
from the pipeline parameters. Each is loaded as it is served (a pyfunc model
that applies its own commit's ``prepare`` to the feature service's features,
the code it carries importable while it predicts), so the gate compares what
would serve. The hold-out rows also go through the
candidate's model class, for the label and for a champion logged as a bare
booster on prepared columns. The gate's metric is computed by the
repository's evaluation hook when ``mlops.yaml`` names one
(``fn(truth, probabilities) -> float``, its direction that of
``gate.metric``), otherwise by the built-in one. The decision and both scores
are logged to the candidate's MLflow run so a reviewer sees why it was (not)
promoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.pyfunc import PyFuncModel
from mlflow.types import Schema
from pydantic import BaseModel
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from core.errors import PermanentError
from core.logging import get_logger
from workflows.mlrepo.contract import load_contract
from workflows.mlrepo.environment import add_to_process
from workflows.mlrepo.hooks import calling, load_hook, repository_imports
from workflows.mlrepo.model import RepoModel
from workflows.params import EvalGate, RetrainParams
from workflows.steps.checkout import checkout_revision
from workflows.steps.contract import StepRequest, environments_dir
from workflows.steps.model_registry import find_champion, mlflow_errors
from workflows.steps.train import TrainOutput
from workflows.steps.training_set import TrainingSetOutput

log = get_logger(__name__)

_DECISION_THRESHOLD = 0.5


class EvaluateOutput(BaseModel):
    metric_name: str
    metric: float
    champion_version: str | None
    champion_metric: float | None
    promote: bool
    reason: str


MetricFunction = Callable[[np.ndarray, np.ndarray], float]


@contextmanager
def registered_model(model_uri: str) -> Iterator[PyFuncModel]:
    """A logged or registered model as pyfunc, with the repository code it carries importable within the block.

    Its ``prepare`` may import the repository's modules when it is called, so the code stays on the import path
    while the block predicts; afterwards neither the path nor the modules are left behind.
    """
    with repository_imports():
        yield mlflow.pyfunc.load_model(model_uri)


def score(model_uri: str, holdout: pd.DataFrame, truth: np.ndarray, metric: MetricFunction) -> float:
    """``metric`` of the model at ``model_uri`` on ``holdout``: the columns of its input signature, with its types.

    A model logged by the train step takes the feature service's features and prepares them itself; a booster
    logged on its own (before models carried their preparation) takes the prepared columns.
    """
    with registered_model(model_uri) as model:
        signature: ModelSignature | None = model.metadata.signature
        schema = signature.inputs if signature is not None else None
        if not isinstance(schema, Schema) or not schema.has_input_names():
            raise PermanentError("the model has no input signature naming its columns; it cannot be compared")
        names = [str(name) for name in schema.input_names()]
        missing = sorted(set(names) - set(holdout.columns))
        if missing:
            raise PermanentError(f"the hold-out set lacks features {missing} the model needs; it cannot be compared")
        typed = pd.DataFrame(
            {name: holdout[name].astype(dtype) for name, dtype in zip(names, schema.numpy_types(), strict=True)}
        )
        probabilities = np.asarray(model.predict(typed), dtype=np.float64).reshape(-1)
    return metric(truth, probabilities)


def built_in_metric(name: str) -> MetricFunction:
    return partial(_built_in, name)


def _built_in(metric: str, truth: np.ndarray, probabilities: np.ndarray) -> float:
    if metric == "auc":
        return float(roc_auc_score(truth, probabilities))
    if metric == "logloss":
        return float(log_loss(truth, probabilities, labels=[0, 1]))
    predicted = (probabilities >= _DECISION_THRESHOLD).astype(int)
    return float(accuracy_score(truth, predicted) if metric == "accuracy" else f1_score(truth, predicted))


def decide(gate: EvalGate, metric: float, champion_metric: float | None, name: str | None = None) -> tuple[bool, str]:
    """Whether the candidate clears the bar and beats the champion by the margin, and why (not).

    ``name`` is the metric's name when the repository's evaluation hook computed it (else ``gate.metric``).
    """
    direction = 1.0 if gate.higher_is_better else -1.0
    name = name or gate.metric
    if direction * (metric - gate.threshold) < 0:
        return False, f"{name} {metric:.4f} misses the threshold {gate.threshold}"
    if champion_metric is None:
        return True, f"{name} {metric:.4f} clears the threshold and there is no champion"
    improvement = direction * (metric - champion_metric)
    if improvement > 0 and improvement >= gate.champion_margin:
        return True, f"{name} {metric:.4f} beats the champion's {champion_metric:.4f} by {improvement:.4f}"
    return False, (
        f"{name} {metric:.4f} does not beat the champion's {champion_metric:.4f} by the margin {gate.champion_margin}"
    )


def _repository_metric(repo: Path, reference: str) -> MetricFunction:
    function = load_hook("evaluate", repo, reference)

    def metric(truth: np.ndarray, probabilities: np.ndarray) -> float:
        with repository_imports(str(repo.resolve())), calling("evaluate", reference, repo):
            return float(function(truth, probabilities))

    return metric


def _prepared_holdout(
    request: StepRequest[RetrainParams], trained: TrainOutput, holdout: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, str, MetricFunction]:
    """Hold-out rows with the repository's derived features added, their truth, and the gate's metric and name.

    The derived columns serve a champion logged as a bare booster; a model carrying its preparation derives its own.
    """
    params = request.params
    repo, _ = checkout_revision(params.repo_url, trained.training_commit, params.branch, request.runtime.work_dir)
    contract = load_contract(repo)
    add_to_process(contract.dependencies.requirements, environments_dir(request.runtime))
    hooks = contract.hooks
    features, truth = RepoModel("evaluate", repo, hooks.model, trained.hyperparameters).prepare(holdout)
    derived = [name for name in features.columns if name not in holdout.columns]
    prepared = holdout.assign(**{str(name): features[name] for name in derived})
    if hooks.evaluate is None:
        return prepared, truth, params.gate.metric, built_in_metric(params.gate.metric)
    return prepared, truth, hooks.evaluate.rpartition(":")[2], _repository_metric(repo, hooks.evaluate)


def evaluate(request: StepRequest[RetrainParams]) -> EvaluateOutput:
    params, gate = request.params, request.params.gate
    training_set = request.upstream_output("build-training-set", TrainingSetOutput)
    trained = request.upstream_output("train", TrainOutput)
    holdout = pd.read_parquet(training_set.holdout_path)
    if holdout.empty:
        raise PermanentError("the hold-out set is empty; raise holdout_fraction or add data")
    holdout, truth, metric_name, gate_metric = _prepared_holdout(request, trained, holdout)
    client = MlflowClient(request.runtime.mlflow_tracking_uri)
    mlflow.set_tracking_uri(request.runtime.mlflow_tracking_uri)
    with mlflow_errors("load the candidate and the champion"):
        metric = score(trained.model_uri, holdout, truth, gate_metric)
        champion = find_champion(client, params.model_name)
        champion_metric = (
            None
            if champion is None
            else score(f"models:/{params.model_name}/{champion.version}", holdout, truth, gate_metric)
        )
    promote, reason = decide(gate, metric, champion_metric, metric_name)
    with mlflow_errors("log the evaluation"):
        client.log_metric(trained.run_id, f"holdout_{metric_name}", metric)
        if champion_metric is not None:
            client.log_metric(trained.run_id, f"champion_holdout_{metric_name}", champion_metric)
        client.set_tag(trained.run_id, "mlops.gate", reason)
    output = EvaluateOutput(
        metric_name=metric_name,
        metric=metric,
        champion_version=None if champion is None else str(champion.version),
        champion_metric=champion_metric,
        promote=promote,
        reason=reason,
    )
    log.info("evaluate.done", **output.model_dump())
    return output
