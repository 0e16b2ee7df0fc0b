"""A second domain, fraud, defined entirely in its own repository, end to end on the local backend.

The repository in ``fraud_repo/`` has its own schema (card transactions), entity
(``card_id``), label (``is_fraud``), Feast definitions, ETL transform, model
class and gate metric, and nothing of it is in the service's code. Pushed to a
bare remote, it goes through feature-apply, then a retrain with ETL: the
repository's tests, the contract's rules and transform, materialization,
the point-in-time training set, Ray training with its model class, the gate
with its own metric, registration and promotion to Staging.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore
from mlflow import MlflowClient

from devtools.devstack.mlflow_server import MlflowServer
from tests.workflows.local_runs import wait_for
from workflows.backend import RunPhase
from workflows.local import LocalBackend
from workflows.params import EtlParams, EvalGate, FeatureApplyParams, RetrainParams
from workflows.settings import LocalSettings
from workflows.steps.model_registry import TAG_FEATURE_SERVICE, TAG_GIT_SHA

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAUD_REPO = Path(__file__).parent / "fraud_repo"
MODEL = "fraud-xgb"
FEAST_PROJECT = "fraud"
DAYS, ROWS_PER_DAY, BAD_PER_DAY = 3, 4_000, 20
CARD_LIMIT = 5_000.0


@pytest.fixture(scope="module")
def fraud_remote(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("fraud")
    work = root / "fraud-ml"
    shutil.copytree(FRAUD_REPO, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    bare = root / "fraud-ml.git"
    git = ["git", "-C", str(work), "-c", "user.name=Fraud Team", "-c", "user.email=fraud@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Fraud scoring"], check=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run([*git, "push", "-q", str(bare), "HEAD:main"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return str(bare), sha


def card_transactions(rng: np.random.Generator, day: date) -> pd.DataFrame:
    """One day of transactions whose fraud follows amount, merchant risk, foreign use and night-time."""
    size = ROWS_PER_DAY
    amount = np.round(rng.gamma(2.0, 150.0, size), 2)
    amount[rng.choice(size, 40, replace=False)] = 9_999.0  # beyond the card limit: the transform caps them
    risk = np.round(rng.random(size), 3)
    hour = rng.integers(0, 24, size)
    foreign = (rng.random(size) < 0.15).astype(int)
    count = rng.poisson(3, size)
    logit = -4.5 + 0.002 * np.minimum(amount, CARD_LIMIT) + 2.5 * risk + 1.5 * foreign + 1.5 * (hour < 6) + 0.1 * count
    fraud = (rng.random(size) < 1 / (1 + np.exp(-logit))).astype(int)
    seconds = rng.integers(0, 86_400, size)
    frame = pd.DataFrame(
        {
            "card_id": np.arange(1, size + 1),
            "tx_time": (pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "amount": amount,
            "merchant_risk": risk,
            "hour_of_day": hour,
            "foreign": foreign,
            "tx_count_24h": count,
            "is_fraud": fraud,
        }
    ).astype("string")
    frame.loc[: BAD_PER_DAY - 1, "hour_of_day"] = "25"  # outside the contract's range: quarantined
    frame.loc[BAD_PER_DAY : 2 * BAD_PER_DAY - 1, "merchant_risk"] = pd.NA  # optional: filled with 0.5
    return frame


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[str, ...]]:
    root = tmp_path_factory.mktemp("landing")
    rng = np.random.default_rng(11)
    partitions = []
    for offset in range(DAYS):
        day = date(2026, 11, 1) + timedelta(days=offset)
        partition = f"date={day.isoformat()}"
        (root / partition).mkdir()
        card_transactions(rng, day).to_csv(root / partition / "part-0.csv", index=False)
        partitions.append(partition)
    return root, tuple(partitions)


@pytest.fixture(scope="module")
def backend(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: MlflowServer, fraud_remote: tuple[str, str]
) -> Iterator[LocalBackend]:
    settings = LocalSettings(
        work_dir=str(tmp_path_factory.mktemp("fraud-service")),
        mlflow_tracking_uri=mlflow_server.tracking_uri,
        feature_repo_source=str(REPO_ROOT / "feature_repo"),
        feast_project=FEAST_PROJECT,
    )
    local = LocalBackend(settings, code_repos=[fraud_remote[0]])
    yield local
    local.close()


def test_fraud_goes_from_raw_transactions_to_a_promoted_model_with_no_service_change(
    backend: LocalBackend,
    fraud_remote: tuple[str, str],
    landing: tuple[Path, tuple[str, ...]],
    mlflow_server: MlflowServer,
) -> None:
    repo_url, sha = fraud_remote
    source, partitions = landing
    applied = wait_for(
        backend,
        backend.submit(
            "feature-apply", FeatureApplyParams(repo_url=repo_url, commit=sha), run_name="fraud-apply", labels={}
        ),
    )
    assert applied.phase is RunPhase.SUCCEEDED, applied.message
    assert applied.outputs["feast-apply"]["feature_services"] == ["fraud_model"]
    assert applied.outputs["feast-apply"]["project"] == FEAST_PROJECT

    params = RetrainParams(
        repo_url=repo_url,
        commit=sha,
        model_name=MODEL,
        etl=EtlParams(dataset="fraud/card_transactions", source_uri=str(source), partitions=partitions),
        gate=EvalGate(threshold=0.3, promote_to="Staging"),
    )
    status = wait_for(backend, backend.submit("retrain", params, run_name="fraud-retrain", labels={}))

    assert status.phase is RunPhase.SUCCEEDED, status.message
    outputs = status.outputs
    assert outputs["repo-tests"]["ran"] and "2 passed" in outputs["repo-tests"]["summary"]
    etl = outputs["etl"]
    assert etl["dataset"] == "fraud/card_transactions"
    assert etl["bad_rows"] == DAYS * BAD_PER_DAY
    assert etl["rows_written"] == DAYS * (ROWS_PER_DAY - BAD_PER_DAY)
    clean = pd.read_parquet(etl["offline_path"])
    assert clean["amount"].max() == CARD_LIMIT, "the repository's transform capped the amounts"
    assert (clean["merchant_risk"] == 0.5).sum() >= DAYS * BAD_PER_DAY, "blank optional values were filled"
    assert sorted(p.name for p in Path(etl["offline_path"]).iterdir() if p.is_dir())[0] == "tx_date=2026-11-01"
    assert outputs["materialize"]["feature_views"] == ["card_activity"]

    training_set = outputs["build-training-set"]
    assert training_set["label"] == "is_fraud" and training_set["feature_service"] == "fraud_model"
    assert training_set["features"] == ["amount", "merchant_risk", "hour_of_day", "foreign", "tx_count_24h"]
    trained = outputs["train"]
    assert trained["features"] == [*training_set["features"], "at_night"]
    assert trained["hyperparameters"]["scale_pos_weight"] == 3.0
    evaluated = outputs["evaluate"]
    assert evaluated["metric_name"] == "recall_at_top_decile" and evaluated["metric"] > 0.3

    registered = outputs["register"]
    assert registered["promoted"] is True and registered["training_commit"] == sha
    client = MlflowClient(mlflow_server.tracking_uri)
    version = client.get_model_version(MODEL, registered["model_version"])
    assert version.current_stage == "Staging"
    assert version.tags[TAG_GIT_SHA] == sha and version.tags[TAG_FEATURE_SERVICE] == "fraud_model"
    run = client.get_run(trained["run_id"])
    assert run.data.metrics["holdout_recall_at_top_decile"] == pytest.approx(evaluated["metric"])

    store = FeatureStore(repo_path=str(Path(etl["offline_path"]).parents[1]))
    assert store.project == FEAST_PROJECT
    card = BAD_PER_DAY * 2 + 1  # the first cards' rows of every day are the quarantined ones
    online = store.get_online_features(features=["card_activity:amount"], entity_rows=[{"card_id": card}]).to_dict()
    assert online["amount"][0] is not None
