"""A small, real serving stack: a Feast repository with an sqlite online store and an XGBoost model in MLflow.

The tests and the serving benchmark both stand the model server up on this
stack. Feature values are kept as the ground truth (``features``), so the
server's answers can be compared with the model's own predictions on exactly
the rows the online store was materialized from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import mlflow
import mlflow.xgboost
import numpy as np
import pandas as pd
import xgboost as xgb
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64
from mlflow.models import infer_signature

ENTITY_KEY = "account_id"
FEATURE_SERVICE = "risk_model"
FEATURES = ("tenure_months", "monthly_charges", "support_tickets", "avg_session_minutes")
FIRST_ENTITY_ID = 5000


@dataclass(frozen=True)
class ServingStack:
    repo_path: Path
    features: pd.DataFrame  # indexed by entity id, columns in FEATURES order: what the online store holds
    tracking_uri: str
    model_name: str
    model_version: str
    model_uri: str
    run_id: str

    def environment(self) -> dict[str, str]:
        """The variables the GitOps ConfigMap gives the model server container."""
        return {
            "MODEL_NAME": self.model_name,
            "MODEL_VERSION": self.model_version,
            "MODEL_URI": self.model_uri,
            "MODEL_RUN_ID": self.run_id,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "FEAST_REPO_PATH": str(self.repo_path),
            "FEAST_FEATURE_SERVICE": FEATURE_SERVICE,
            "ENTITY_KEY": ENTITY_KEY,
        }

    def entity_ids(self, count: int) -> list[int]:
        return [int(entity_id) for entity_id in self.features.index[:count]]

    def booster(self) -> xgb.Booster:
        """The registered model, loaded natively: the in-process reference for the server's answers."""
        mlflow.set_tracking_uri(self.tracking_uri)
        booster: xgb.Booster = mlflow.xgboost.load_model(self.model_uri)
        return booster


def generate_features(entities: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 72, entities),
            "monthly_charges": rng.normal(60.0, 20.0, entities).round(2),
            "support_tickets": rng.poisson(1.5, entities),
            "avg_session_minutes": rng.gamma(2.0, 8.0, entities),
        },
        index=pd.Index(np.arange(FIRST_ENTITY_ID, FIRST_ENTITY_ID + entities, dtype="int64"), name=ENTITY_KEY),
    )


def build_feature_repo(root: Path, features: pd.DataFrame) -> Path:
    """Write a Feast repository under ``root``, apply it and materialize ``features`` into sqlite."""
    repo = root / "feature_repo"
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        "project: serving_test\n"
        "provider: local\n"
        f"registry: {repo / 'registry.db'}\n"
        "online_store:\n"
        "  type: sqlite\n"
        f"  path: {repo / 'online.db'}\n"
        "offline_store:\n"
        "  type: file\n"
        "entity_key_serialization_version: 3\n"
    )
    observed_at = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(hours=1)
    source_file = repo / "accounts.parquet"
    features.reset_index().assign(event_timestamp=observed_at).to_parquet(source_file)

    account = Entity(name="account", join_keys=[ENTITY_KEY], value_type=ValueType.INT64)
    source = FileSource(name="accounts", path=str(source_file), timestamp_field="event_timestamp")
    usage = FeatureView(
        name="account_usage",
        entities=[account],
        ttl=timedelta(days=7),
        schema=[Field(name="support_tickets", dtype=Int64), Field(name="avg_session_minutes", dtype=Float64)],
        source=source,
    )
    contract = FeatureView(
        name="account_contract",
        entities=[account],
        ttl=timedelta(days=7),
        schema=[Field(name="monthly_charges", dtype=Float64), Field(name="tenure_months", dtype=Int64)],
        source=source,
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([account, source, usage, contract, FeatureService(name=FEATURE_SERVICE, features=[usage, contract])])
    store.materialize(observed_at - pd.Timedelta(days=1), observed_at + pd.Timedelta(minutes=1))
    return repo


def register_model(tracking_uri: str, features: pd.DataFrame, model_name: str) -> tuple[str, str]:
    """Train a small booster on ``features``, register it; return (version, run id)."""
    risk = 0.4 * features["support_tickets"] - 0.03 * features["tenure_months"] + 0.01 * features["monthly_charges"]
    labels = (risk + np.random.default_rng(11).normal(0, 0.3, len(features)) > risk.median()).astype(int)
    frame = features.reset_index(drop=True)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3},
        xgb.DMatrix(frame, label=labels),
        num_boost_round=20,
    )
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("model-server-tests")
    with mlflow.start_run() as run:
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            signature=infer_signature(frame, booster.predict(xgb.DMatrix(frame))),
            registered_model_name=model_name,
        )
    return str(info.registered_model_version), run.info.run_id


def build_serving_stack(root: Path, tracking_uri: str, entities: int, model_name: str) -> ServingStack:
    features = generate_features(entities)
    repo = build_feature_repo(root, features)
    version, run_id = register_model(tracking_uri, features, model_name)
    return ServingStack(
        repo_path=repo,
        features=features,
        tracking_uri=tracking_uri,
        model_name=model_name,
        model_version=version,
        model_uri=f"models:/{model_name}/{version}",
        run_id=run_id,
    )
