"""A second domain on the node: fraud, defined entirely in its own repository, from raw data to a registered model.

The repository is the one the second domain's local end-to-end test uses (``tests/workflows/fraud_repo``): its
own schema (card transactions), entity (``card_id``), label (``is_fraud``), ETL transform, Feast definitions,
model class, gate metric and tests. None of it is in the service's code or image. The run serves it from its
HTTPS git host beside the churn repository (``tests.cluster.code_host``), and the fraud team's settings differ
from the churn team's only in what is theirs: the Feast project, and its registry (beside churn's, in the same
bucket). Nothing else changes: same image, same operators, same S3 store and Redis.

Its raw transactions are generated as the local test generates them (rows outside the contract's range, blank
optional values, amounts beyond the card limit) and landed in MinIO. ``feature-apply`` registers the
repository's feature views; one ``retrain`` with an ETL then runs the repository's tests, Spark through
spark-operator with the repository's contract and transform, the materialization, the point-in-time training
set, XGBoost on a Ray head and two workers with the repository's model class, the gate with the repository's
metric, and registers ``fraud-xgb`` in the in-cluster MLflow. Each is checked against what was landed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.cluster.code_host import ServedRepository
from tests.cluster.execution import RunFailedError, check_retrain
from tests.cluster.feature_store import BUCKET
from tests.cluster.s3 import DATA_BUCKET, Store
from tests.infra.minio import s3_client
from tests.workflows.test_second_domain import BAD_PER_DAY, CARD_LIMIT, DAYS, ROWS_PER_DAY, card_transactions
from workflows.params import EtlParams, EvalGate, FeatureApplyParams, RetrainParams
from workflows.pipelines.context import WORK_MOUNT
from workflows.settings import ArgoSettings

DATASET = "fraud/card_transactions"
RAW_PREFIX = f"raw/{DATASET}"
MODEL = "fraud-xgb"
FEAST_PROJECT = "fraud"
REGISTRY = f"s3://{BUCKET}/fraud-registry.db"
FEATURE_SERVICE, FEATURE_VIEW = "fraud_model", "card_activity"
SEED = 11


def fraud_settings(settings: ArgoSettings) -> ArgoSettings:
    """The fraud team's settings: the churn team's, with the Feast project and registry of their own."""
    feature_store = settings.feature_store.model_copy(update={"registry": REGISTRY})
    return settings.model_copy(update={"feast_project": FEAST_PROJECT, "feature_store": feature_store})


def land_transactions(store: Store, directory: Path) -> list[str]:
    """A few recent days of raw transactions, one CSV partition a day, in the landing zone; the partitions."""
    rng = np.random.default_rng(SEED)
    client = s3_client(store.endpoint, store.credentials)
    first = datetime.now(UTC).date() - timedelta(days=DAYS)  # the feature view's time-to-live counts from now
    partitions = []
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        partition = f"date={day.isoformat()}"
        (directory / partition).mkdir(parents=True)
        card_transactions(rng, day).to_csv(directory / partition / "part-0.csv", index=False)
        landed = directory / partition / "part-0.csv"
        client.upload_file(str(landed), DATA_BUCKET, f"{RAW_PREFIX}/{partition}/{landed.name}")
        partitions.append(partition)
    return partitions


def apply_params(repository: ServedRepository) -> FeatureApplyParams:
    return FeatureApplyParams(repo_url=repository.url, commit=repository.commit)


def retrain_params(repository: ServedRepository, partitions: list[str], workers: int) -> RetrainParams:
    return RetrainParams(
        repo_url=repository.url,
        commit=repository.commit,
        model_name=MODEL,
        num_workers=workers,
        etl=EtlParams(dataset=DATASET, source_uri=f"s3://{DATA_BUCKET}/{RAW_PREFIX}", partitions=partitions),
        gate=EvalGate(threshold=0.3, promote_to="Staging"),
    )


def check_applied(executed: dict[str, Any]) -> dict[str, Any]:
    applied = executed["outputs_read_by_service"]["feast-apply"]
    if applied["project"] != FEAST_PROJECT or applied["feature_services"] != [FEATURE_SERVICE]:
        raise RunFailedError(f"feature-apply registered {applied}, not the fraud repository's definitions")
    return dict(applied)


def check_trained(
    executed: dict[str, Any], tracking_uri: str, repository: ServedRepository, work_volume: Path
) -> dict[str, Any]:
    """The repository's contract, transform, features, model class and metric each left their mark; the curated
    rows are read back from the work volume's directory on the host."""
    outputs = executed["outputs_read_by_service"]
    etl, materialized = outputs["etl"], outputs["materialize"]
    rows = DAYS * (ROWS_PER_DAY - BAD_PER_DAY)
    expected_etl = {"dataset": DATASET, "bad_rows": DAYS * BAD_PER_DAY, "rows_written": rows}
    if {key: etl[key] for key in expected_etl} != expected_etl:
        raise RunFailedError(f"the fraud ETL reported {etl}; landed {expected_etl}")
    curated = pd.read_parquet(work_volume / Path(etl["offline_path"]).relative_to(WORK_MOUNT))
    if len(curated) != rows or curated["amount"].max() != CARD_LIMIT:
        raise RunFailedError(f"{len(curated)} curated rows, amounts up to {curated['amount'].max()}: not capped")
    if materialized["feature_views"] != [FEATURE_VIEW]:
        raise RunFailedError(f"materialize wrote {materialized}, not {FEATURE_VIEW}")
    training_set, trained, evaluated = outputs["build-training-set"], outputs["train"], outputs["evaluate"]
    if training_set["label"] != "is_fraud" or training_set["feature_service"] != FEATURE_SERVICE:
        raise RunFailedError(f"the training set was {training_set}, not the fraud repository's")
    if trained["features"] != [*training_set["features"], "at_night"]:
        raise RunFailedError(f"trained on {trained['features']}: the repository's model class added no at_night")
    if evaluated["metric_name"] != "recall_at_top_decile" or not outputs["register"]["promoted"]:
        raise RunFailedError(f"the gate said {evaluated}; the repository's metric should promote the model")
    return {
        **check_retrain(executed, tracking_uri, repository),
        "etl": etl,
        "curated": {"rows": len(curated), "largest_amount": float(curated["amount"].max())},
        "materialize": materialized,
        "features": trained["features"],
        "gate": evaluated,
        "spark_pods": [pod for pod in executed["pods"] if "-driver" in pod or "-exec-" in pod],
    }
