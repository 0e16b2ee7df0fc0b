"""Build the training and hold-out sets with a Feast point-in-time join.

Which dataset gives the labels and which feature service the features is the
ML repository's business (``mlops.yaml`` at the trained commit). Labels and
their observation times come from the clean dataset; features come from Feast
as they were known at each label's timestamp, so no feature value from the
future leaks into training. The split is by entity, seeded, so an entity's
rows never sit on both sides and the same run yields the same sets. The sets
keep the entity and timestamp beside features and label: the repository's
model class may derive features from any of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from feast import FeatureService, FeatureStore
from feast.errors import FeatureServiceNotFoundException
from pydantic import BaseModel

from core.errors import PermanentError
from core.logging import get_logger
from workflows.mlrepo.contract import DatasetContract, load_contract
from workflows.params import RetrainParams
from workflows.steps.checkout import checkout_revision
from workflows.steps.contract import StepRequest
from workflows.steps.etl import offline_path
from workflows.steps.feature_store import open_store

log = get_logger(__name__)


class TrainingSetOutput(BaseModel):
    train_path: str
    holdout_path: str
    train_rows: int
    holdout_rows: int
    features: list[str]
    label: str
    feature_service: str
    feature_views: list[str]
    data_partitions: list[str]


def _labels(feature_store_dir: str, contract: DatasetContract) -> tuple[pd.DataFrame, list[str]]:
    """Entity rows (entity, timestamp, label) and the partitions they came from."""
    source = offline_path(feature_store_dir, contract)
    if not source.is_dir():
        raise PermanentError(f"no clean data at {source}; run the data-etl pipeline or pass etl parameters")
    columns = [contract.entity, contract.timestamp, contract.label, contract.partition]
    frame = pd.read_parquet(source, columns=columns)
    partitions = sorted(f"{contract.partition}={v}" for v in frame[contract.partition].unique())
    return frame.drop(columns=[contract.partition]), partitions


def _feature_service(store: FeatureStore, name: str) -> FeatureService:
    try:
        return store.get_feature_service(name)
    except FeatureServiceNotFoundException as e:
        known = ", ".join(sorted(s.name for s in store.list_feature_services()))
        raise PermanentError(f"feature service {name!r} is not in the feature store (it has: {known}); apply it") from e


def build_training_set(request: StepRequest[RetrainParams]) -> TrainingSetOutput:
    params = request.params
    repo, _ = checkout_revision(params.repo_url, params.commit, params.branch, request.runtime.work_dir)
    repo_contract = load_contract(repo)
    contract = repo_contract.dataset(params.dataset or (params.etl.dataset if params.etl else None))
    service_name = params.feature_service or repo_contract.features.training_service
    store = open_store(request.runtime)
    service = _feature_service(store, service_name)
    entity_rows, partitions = _labels(request.runtime.feature_store_dir, contract)
    joined = store.get_historical_features(entity_df=entity_rows, features=service).to_df()
    features = [f.name for projection in service.feature_view_projections for f in projection.features]
    joined = joined.dropna(subset=features).sort_values([contract.entity, contract.timestamp])
    entities = joined[contract.entity].unique()
    in_holdout = np.random.default_rng(params.seed).random(len(entities)) < params.holdout_fraction
    is_holdout = joined[contract.entity].isin(entities[in_holdout])
    target = Path(request.runtime.work_dir) / "training_sets" / request.workflow_name
    target.mkdir(parents=True, exist_ok=True)
    columns = [contract.entity, contract.timestamp, *features, contract.label]
    joined.loc[~is_holdout, columns].to_parquet(target / "train.parquet", index=False)
    joined.loc[is_holdout, columns].to_parquet(target / "holdout.parquet", index=False)
    output = TrainingSetOutput(
        train_path=str(target / "train.parquet"),
        holdout_path=str(target / "holdout.parquet"),
        train_rows=int((~is_holdout).sum()),
        holdout_rows=int(is_holdout.sum()),
        features=features,
        label=contract.label,
        feature_service=service_name,
        feature_views=sorted(p.name for p in service.feature_view_projections),
        data_partitions=partitions,
    )
    log.info("training_set.done", train_rows=output.train_rows, holdout_rows=output.holdout_rows)
    return output
