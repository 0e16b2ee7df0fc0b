"""Train the churn model with Ray-distributed XGBoost and log it to MLflow.

Hyperparameters are read from the ML code repo at the commit being trained
(merged with pipeline overrides), so a pushed change of parameters is what
gets trained. The MLflow run carries everything needed to reproduce and audit
the model: parameters, the feature list, the lineage tags and the model with
its input signature, which the model server uses to shape its requests.
"""

from __future__ import annotations

import time
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pydantic import BaseModel

from core.errors import PermanentError
from core.logging import get_logger
from workflows.params import RetrainParams
from workflows.steps.checkout import checkout_revision
from workflows.steps.contract import StepRequest
from workflows.steps.hyperparams import read_params_file, resolve
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
from workflows.steps.ray_xgboost import ensure_ray, tracker_host, train_distributed
from workflows.steps.training_set import TrainingSetOutput

log = get_logger(__name__)

_SIGNATURE_SAMPLE_ROWS = 100


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
        TAG_FEATURE_SERVICE: params.feature_service,
        TAG_TRIGGER_EVENT_ID: params.trigger_event_id or "",
        TAG_WORKFLOW_NAME: request.workflow_name,
    }


def _experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment is not None else client.create_experiment(name)


def train(request: StepRequest[RetrainParams]) -> TrainOutput:
    params, runtime = request.params, request.runtime
    training_set = request.upstream_output("build-training-set", TrainingSetOutput)
    repo, commit = checkout_revision(params.repo_url, params.commit, params.branch, runtime.work_dir)
    hyper = resolve(
        read_params_file(repo / params.params_file), params.hyperparameters, params.num_boost_round, params.seed
    )
    frame = pd.read_parquet(training_set.train_path)
    if frame.empty:
        raise PermanentError("the training set is empty; check the clean data and the feature service")
    features = frame[training_set.features]
    ensure_ray(runtime.ray)
    started = time.perf_counter()
    booster = train_distributed(
        features.to_numpy(np.float32),
        frame[training_set.label].to_numpy(np.float32),
        hyper.booster,
        hyper.num_boost_round,
        params.num_workers,
        tracker_ip=tracker_host(runtime.ray),
    )
    training_seconds = time.perf_counter() - started
    booster.feature_names = training_set.features
    lineage = _lineage(request, training_set, commit)
    mlflow.set_tracking_uri(runtime.mlflow_tracking_uri)
    with mlflow_errors("log the training run"):
        experiment_id = _experiment_id(MlflowClient(runtime.mlflow_tracking_uri), params.model_name)
        with mlflow.start_run(experiment_id=experiment_id, run_name=request.workflow_name, tags=lineage) as run:
            mlflow.log_params({**hyper.booster, "num_boost_round": hyper.num_boost_round})
            mlflow.log_params({"num_workers": params.num_workers, "train_rows": len(frame)})
            mlflow.log_metric("training_seconds", training_seconds)
            mlflow.log_dict({"features": training_set.features, "label": training_set.label}, "feature_list.json")
            sample = features.head(_SIGNATURE_SAMPLE_ROWS)
            signature = infer_signature(sample, booster.inplace_predict(sample.to_numpy(np.float32)))
            model_info = mlflow.xgboost.log_model(booster, name="model", signature=signature, model_format="ubj")
    output = TrainOutput(
        run_id=run.info.run_id,
        model_uri=model_info.model_uri,
        features=training_set.features,
        training_commit=commit,
        num_boost_round=hyper.num_boost_round,
        hyperparameters=hyper.booster,
        lineage=lineage,
    )
    log.info("train.done", run_id=output.run_id, seconds=round(training_seconds, 2))
    return output
