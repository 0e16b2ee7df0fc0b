"""Train the ML repository's model with Ray-distributed XGBoost and log it to MLflow.

The model is the repository's own, at the commit being trained: its model
class (``hooks.model`` in ``mlops.yaml``) prepares features and label from
the training set and gives the booster parameters, with hyperparameters read
from the repository's params file (merged with pipeline overrides). So a push
that changes feature engineering, the model or its parameters is what gets
trained. The service keeps the distribution (Ray workers, sharding, the
tracker). The MLflow run carries everything needed to reproduce and audit the
model: parameters, the feature list, the lineage tags and the model, logged
with the repository's ``prepare`` in front of the booster
(``workflows.steps.model_logging``) so serving derives features as training
did; its input signature, the feature service's features, shapes the model
server's requests.
"""

from __future__ import annotations

import time
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow import MlflowClient
from pydantic import BaseModel

from core.errors import PermanentError
from core.logging import get_logger
from workflows.mlrepo.contract import load_contract
from workflows.mlrepo.environment import add_to_process
from workflows.mlrepo.hooks import HookError, repository_frames
from workflows.mlrepo.model import RepoModel
from workflows.params import RetrainParams
from workflows.steps.checkout import checkout_revision
from workflows.steps.contract import StepRequest, environments_dir
from workflows.steps.hyperparams import read_params_file, resolve
from workflows.steps.model_logging import log_served_model
from workflows.steps.model_registry import (
    TAG_DATA_PARTITIONS,
    TAG_FEATURE_SERVICE,
    TAG_FEATURE_VIEWS,
    TAG_GIT_SHA,
    TAG_REPO_URL,
    TAG_TRIGGER_EVENT_ID,
    TAG_WORKFLOW_NAME,
    mlflow_errors,
)
from workflows.steps.ray_xgboost import CallbackError, ensure_ray, tracker_host, train_distributed
from workflows.steps.training_set import TrainingSetOutput

log = get_logger(__name__)


class TrainOutput(BaseModel):
    run_id: str
    model_uri: str
    features: list[str]
    training_commit: str
    num_boost_round: int
    hyperparameters: dict[str, Any]
    lineage: dict[str, str]


def _lineage(request: StepRequest[RetrainParams], training_set: TrainingSetOutput, commit: str) -> dict[str, str]:
    params = request.params
    return {
        TAG_GIT_SHA: commit,
        TAG_REPO_URL: params.repo_url,
        TAG_DATA_PARTITIONS: ",".join(training_set.data_partitions),
        TAG_FEATURE_VIEWS: ",".join(training_set.feature_views),
        TAG_FEATURE_SERVICE: training_set.feature_service,
        TAG_TRIGGER_EVENT_ID: params.trigger_event_id or "",
        TAG_WORKFLOW_NAME: request.workflow_name,
    }


def _experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment is not None else client.create_experiment(name)


def _train_model(
    request: StepRequest[RetrainParams], model: RepoModel, frame: pd.DataFrame, rounds: int
) -> tuple[xgb.Booster, pd.DataFrame, dict[str, Any]]:
    """Train on the model's prepared features over the Ray workers; return the booster, features and parameters.

    A custom objective or metric raising on a worker is the repository's bug,
    reported with its own traceback like any other hook error.
    """
    features, labels = model.prepare(frame)
    booster_params = model.booster_params()
    callbacks = (model.callback("objective"), model.callback("custom_metric"))
    ensure_ray(request.runtime.ray)
    try:
        booster = train_distributed(
            features.to_numpy(np.float32),
            labels,
            booster_params,
            rounds,
            request.params.num_workers,
            tracker_ip=tracker_host(request.runtime.ray),
            callbacks=callbacks,
            import_roots=(str(model.repo_dir.resolve()),),
        )
    except CallbackError as e:
        frames = repository_frames(e.frames, model.repo_dir)
        raise HookError("train", f"{model.reference}.{e.callback}", e.error, frames) from e
    booster.feature_names = list(features.columns)
    return booster, features, booster_params


def train(request: StepRequest[RetrainParams]) -> TrainOutput:
    params, runtime = request.params, request.runtime
    training_set = request.upstream_output("build-training-set", TrainingSetOutput)
    repo, commit = checkout_revision(params.repo_url, params.commit, params.branch, runtime.work_dir)
    contract = load_contract(repo)
    add_to_process(contract.dependencies.requirements, environments_dir(runtime))
    model_hook = contract.hooks.model
    hyper = resolve(
        read_params_file(repo / params.params_file), params.hyperparameters, params.num_boost_round, params.seed
    )
    frame = pd.read_parquet(training_set.train_path)
    if frame.empty:
        raise PermanentError("the training set is empty; check the clean data and the feature service")
    model = RepoModel("train", repo, model_hook, hyper.booster)
    started = time.perf_counter()
    booster, features, booster_params = _train_model(request, model, frame, hyper.num_boost_round)
    training_seconds = time.perf_counter() - started
    feature_names = list(features.columns)
    lineage = _lineage(request, training_set, commit)
    mlflow.set_tracking_uri(runtime.mlflow_tracking_uri)
    with mlflow_errors("log the training run"):
        experiment_id = _experiment_id(MlflowClient(runtime.mlflow_tracking_uri), params.model_name)
        with mlflow.start_run(experiment_id=experiment_id, run_name=request.workflow_name, tags=lineage) as run:
            mlflow.log_params({**booster_params, "num_boost_round": hyper.num_boost_round})
            mlflow.log_params({"num_workers": params.num_workers, "train_rows": len(frame)})
            mlflow.log_metric("training_seconds", training_seconds)
            mlflow.log_dict(
                {"features": feature_names, "label": training_set.label, "model_hook": model_hook},
                "feature_list.json",
            )
            model_info = log_served_model(
                booster,
                model,
                frame[training_set.features],
                label=training_set.label,
                hyperparameters=hyper.booster,
                repository_requirements=contract.dependencies.requirements,
            )
    output = TrainOutput(
        run_id=run.info.run_id,
        model_uri=model_info.model_uri,
        features=feature_names,
        training_commit=commit,
        num_boost_round=hyper.num_boost_round,
        hyperparameters=booster_params,
        lineage=lineage,
    )
    log.info("train.done", run_id=output.run_id, seconds=round(training_seconds, 2))
    return output
