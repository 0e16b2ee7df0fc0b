"""The local backend end to end: Prefect flows running real Spark, Feast sqlite, Ray and an MLflow server.

One module-wide setup applies the Feast definitions and runs ``retrain`` of
the scaffolded ML repository with an ETL of 50,000 generated rows; the tests
then check what that run left behind, exercise the evaluation gate both ways
against a champion, and push code: a derived feature in the repository's model
class is what the next model is trained on (and what the model server, run as
its own process on the online store, computes before scoring), and a model
class that raises fails the run with the repository's own traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from feast import FeatureStore
from mlflow import MlflowClient

from devtools.datagen import GeneratedData, generate_raw_partitions
from devtools.demo.workspace import DERIVED_FEATURE, MODEL_PATH, add_derived_feature
from devtools.devstack.process import free_port, start, stop, wait_until
from tests.workflows.local_runs import wait_for
from tests.workflows.ml_repos import push_change, scaffolded_remote
from workflows.backend import RunPhase, RunStatus
from workflows.local import LocalBackend
from workflows.params import EtlParams, EvalGate, FeatureApplyParams, RetrainParams
from workflows.settings import LocalSettings
from workflows.steps.model_registry import (
    TAG_DATA_PARTITIONS,
    TAG_FEATURE_VIEWS,
    TAG_GIT_SHA,
    TAG_TRIGGER_EVENT_ID,
    TAG_WORKFLOW_NAME,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = 50_000
MODEL = "churn-local-e2e"
CHURN_SERVICE = "churn_model"  # features.training_service of the scaffold's mlops.yaml
PARAMS_FILE = """\
# Hyperparameters of the churn classifier
max_depth: 4
learning_rate: 0.2
n_estimators: 40
subsample: 0.9
random_state: 42
"""
WEAK = {"max_depth": 1}
WEAK_ROUNDS = 2


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    bare, clone, _ = scaffolded_remote(tmp_path_factory.mktemp("remotes"))
    return bare, clone, push_change(bare, clone, {"configs/xgb_model_params.yaml": PARAMS_FILE}, "tuned parameters")


@pytest.fixture(scope="module")
def ml_repo(scaffold: tuple[Path, Path, str]) -> tuple[str, str]:
    bare, _, sha = scaffold
    return str(bare), sha


@pytest.fixture(scope="module")
def raw_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedData]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate_raw_partitions(root, rows=ROWS, days=5)


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-backend")


@pytest.fixture(scope="module")
def backend(work_dir: Path, mlflow_server: object, scaffold: tuple[Path, Path, str]) -> Iterator[LocalBackend]:
    settings = LocalSettings(
        work_dir=str(work_dir),
        mlflow_tracking_uri=mlflow_server.tracking_uri,  # type: ignore[attr-defined]
        feature_repo_source=str(REPO_ROOT / "feature_repo"),
    )
    local = LocalBackend(settings, code_repos=[str(scaffold[0])])
    yield local
    local.close()


@pytest.fixture(scope="module")
def client(mlflow_server: object) -> MlflowClient:
    return MlflowClient(mlflow_server.tracking_uri)  # type: ignore[attr-defined]


def retrain_params(ml_repo: tuple[str, str], **changes: object) -> RetrainParams:
    repo_url, sha = ml_repo
    return RetrainParams.model_validate({"repo_url": repo_url, "commit": sha, "model_name": MODEL, **changes})


@pytest.fixture(scope="module")
def first_run(backend: LocalBackend, ml_repo: tuple[str, str], raw_data: tuple[Path, GeneratedData]) -> RunStatus:
    """feature-apply, then a retrain with ETL of a deliberately weak model that becomes the challenger."""
    applied = backend.submit("feature-apply", FeatureApplyParams(), run_name="apply-1", labels={})
    assert wait_for(backend, applied).phase is RunPhase.SUCCEEDED, backend.status(applied).message
    source, generated = raw_data
    params = retrain_params(
        ml_repo,
        etl=EtlParams(source_uri=str(source), partitions=generated.partitions, trigger_event_id="evt-data-1"),
        hyperparameters=WEAK,
        num_boost_round=WEAK_ROUNDS,
        gate=EvalGate(metric="auc", threshold=0.55, promote_to="challenger"),
        trigger_event_id="evt-data-1",
    )
    name = backend.submit("retrain", params, run_name="retrain-1", labels={"event-id": "evt-data-1"})
    return wait_for(backend, name)


def test_retrain_cleans_data_materializes_features_and_registers_a_version(
    first_run: RunStatus,
    raw_data: tuple[Path, GeneratedData],
    work_dir: Path,
    ml_repo: tuple[str, str],
    client: MlflowClient,
) -> None:
    assert first_run.phase is RunPhase.SUCCEEDED, first_run.message
    outputs = first_run.outputs
    assert list(outputs) == ["repo-tests", "etl", "materialize", "build-training-set", "train", "evaluate", "register"]
    assert outputs["repo-tests"]["ran"] and outputs["repo-tests"]["commit"] == ml_repo[1]
    _, generated = raw_data
    assert outputs["etl"]["rows_written"] == generated.rows - generated.bad_rows
    assert outputs["etl"]["bad_rows"] == generated.bad_rows
    assert len(pd.read_parquet(outputs["etl"]["offline_path"])) == generated.rows - generated.bad_rows

    store = FeatureStore(repo_path=str(work_dir / "feature_store"))
    online = store.get_online_features(
        features=["customer_profile:tenure_months", "customer_engagement:sessions_30d"],
        entity_rows=[{"customer_id": 1}, {"customer_id": 2}],
    ).to_dict()
    assert None not in online["tenure_months"] and None not in online["sessions_30d"]

    result = outputs["register"]
    assert result["promoted"] is True and result["champion_metric"] is None
    assert result["training_commit"] == ml_repo[1]
    version = client.get_model_version(MODEL, result["model_version"])
    assert version.tags[TAG_GIT_SHA] == ml_repo[1]
    assert version.tags[TAG_TRIGGER_EVENT_ID] == "evt-data-1"
    assert version.tags[TAG_WORKFLOW_NAME] == "retrain-1"
    assert version.tags[TAG_FEATURE_VIEWS] == "customer_engagement,customer_profile"
    assert version.tags[TAG_DATA_PARTITIONS].split(",") == [
        p.replace("date=", "event_date=") for p in generated.partitions
    ]
    assert client.get_model_version_by_alias(MODEL, "challenger").version == result["model_version"]
    run = client.get_run(result["run_id"])
    assert run.data.metrics["holdout_auc"] == pytest.approx(result["metric"]) and result["metric"] > 0.55
    assert run.data.params["max_depth"] == "1" and run.data.params["num_boost_round"] == str(WEAK_ROUNDS)
    assert run.data.params["learning_rate"] == "0.2", "the params file of the trained commit was not used"


def test_gate_promotes_a_model_that_beats_the_champion(
    first_run: RunStatus, backend: LocalBackend, ml_repo: tuple[str, str], client: MlflowClient
) -> None:
    champion = first_run.outputs["register"]
    client.set_registered_model_alias(MODEL, "champion", champion["model_version"])
    gate = EvalGate(threshold=0.55, champion_margin=0.005, promote_to="Staging")
    params = retrain_params(ml_repo, commit=None, branch="main", gate=gate)

    status = wait_for(backend, backend.submit("retrain", params, run_name="retrain-beats", labels={}))

    assert status.phase is RunPhase.SUCCEEDED, status.message
    assert "etl" not in status.outputs, "retrain without ETL parameters must skip the ETL"
    result = status.outputs["register"]
    assert result["promoted"] is True
    assert result["champion_metric"] == pytest.approx(champion["metric"])
    assert result["metric"] >= champion["metric"] + 0.005
    version = client.get_model_version(MODEL, result["model_version"])
    assert version.current_stage == "Staging"
    assert result["training_commit"] == version.tags[TAG_GIT_SHA] == ml_repo[1], "no commit: the branch head's SHA"


def test_gate_keeps_a_model_that_does_not_beat_the_champion(
    first_run: RunStatus, backend: LocalBackend, ml_repo: tuple[str, str], client: MlflowClient
) -> None:
    champion = first_run.outputs["register"]
    client.set_registered_model_alias(MODEL, "champion", champion["model_version"])
    challenger_before = client.get_model_version_by_alias(MODEL, "challenger").version
    params = retrain_params(
        ml_repo,
        hyperparameters=WEAK,
        num_boost_round=WEAK_ROUNDS,
        gate=EvalGate(threshold=0.55, champion_margin=0.01, promote_to="challenger"),
    )

    status = wait_for(backend, backend.submit("retrain", params, run_name="retrain-no-gain", labels={}))

    assert status.phase is RunPhase.SUCCEEDED, status.message
    result = status.outputs["register"]
    assert result["promoted"] is False
    assert "does not beat the champion" in status.outputs["evaluate"]["reason"]
    version = client.get_model_version(MODEL, result["model_version"])
    assert version.tags["mlops.promoted"] == "false" and version.current_stage == "None"
    assert client.get_model_version_by_alias(MODEL, "challenger").version == challenger_before


def test_a_failing_step_fails_the_run_with_its_name_and_submit_is_idempotent(
    first_run: RunStatus, backend: LocalBackend, raw_data: tuple[Path, GeneratedData]
) -> None:
    source, _ = raw_data
    params = EtlParams(source_uri=str(source), partitions=["date=1999-01-01"])

    name = backend.submit("data-etl", params, run_name="etl-missing", labels={})
    status = wait_for(backend, name)
    again = backend.submit("data-etl", params, run_name="etl-missing", labels={})

    assert status.phase is RunPhase.FAILED
    assert "step etl failed" in status.message and "cannot read raw partitions" in status.message
    assert again == name and backend.status(name) == status


@pytest.fixture(scope="module")
def derived_run(first_run: RunStatus, backend: LocalBackend, scaffold: tuple[Path, Path, str]) -> tuple[RunStatus, str]:
    """A push adding a derived feature to the model class, retrained; the repository is put back afterwards."""
    bare, clone, _ = scaffold
    source = (clone / MODEL_PATH).read_text()
    commit = push_change(bare, clone, {MODEL_PATH: add_derived_feature(source)}, "charges per month of tenure")
    params = retrain_params((str(bare), commit), gate=EvalGate(threshold=0.55, champion_margin=0.0))
    status = wait_for(backend, backend.submit("retrain", params, run_name="retrain-derived", labels={}))
    push_change(bare, clone, {MODEL_PATH: source}, "back to the plain features")
    return status, commit


def test_a_pushed_feature_in_the_model_class_is_what_the_next_model_is_trained_on(
    first_run: RunStatus, derived_run: tuple[RunStatus, str], client: MlflowClient
) -> None:
    status, commit = derived_run
    assert status.phase is RunPhase.SUCCEEDED, status.message
    trained = status.outputs["train"]
    assert trained["features"][-1] == DERIVED_FEATURE
    assert trained["features"][:-1] == first_run.outputs["train"]["features"]
    assert trained["training_commit"] == commit
    run = client.get_run(trained["run_id"])
    assert run.data.tags[TAG_GIT_SHA] == commit
    feature_list = client.download_artifacts(trained["run_id"], "feature_list.json")
    assert DERIVED_FEATURE in Path(feature_list).read_text()
    assert (
        status.outputs["evaluate"]["champion_metric"] is not None or "champion" in status.outputs["evaluate"]["reason"]
    )


def test_the_model_server_derives_the_pushed_feature_from_the_online_features(
    derived_run: tuple[RunStatus, str], work_dir: Path, mlflow_server: object, tmp_path: Path
) -> None:
    """The registered version carries the commit's prepare: the server's scores are the booster's on the derived
    feature computed here from the online features."""
    status, _ = derived_run
    assert status.phase is RunPhase.SUCCEEDED, status.message
    registered = status.outputs["register"]
    tracking_uri: str = mlflow_server.tracking_uri  # type: ignore[attr-defined]
    store_dir = work_dir / "feature_store"
    entity_ids = [1, 2, 3, 42, 4999]
    store = FeatureStore(repo_path=str(store_dir))
    online = store.get_online_features(
        features=store.get_feature_service(CHURN_SERVICE), entity_rows=[{"customer_id": i} for i in entity_ids]
    ).to_df()
    model_dir = Path(
        mlflow.artifacts.download_artifacts(status.outputs["train"]["model_uri"], tracking_uri=tracking_uri)
    )
    booster = xgb.Booster()
    booster.load_model(next(model_dir.rglob("booster.ubj")))
    *raw, derived = booster.feature_names or []
    assert derived == DERIVED_FEATURE and set(raw) == set(online.columns) - {"customer_id"}
    by_hand = online[raw].astype(np.float32)
    by_hand[DERIVED_FEATURE] = by_hand["monthly_charges"] / (by_hand["tenure_months"] + 1)
    expected = booster.inplace_predict(by_hand[booster.feature_names].to_numpy(np.float32))

    environment = {
        "MODEL_NAME": MODEL,
        "MODEL_VERSION": registered["model_version"],
        "MODEL_URI": registered["model_uri"],
        "MODEL_RUN_ID": registered["run_id"],
        "MLFLOW_TRACKING_URI": tracking_uri,
        "FEAST_REPO_PATH": str(store_dir),
        "FEAST_FEATURE_SERVICE": CHURN_SERVICE,
        "ENTITY_KEY": "customer_id",
    }
    port, log = free_port(), tmp_path / "model-server.log"
    command = [sys.executable, "-m", "services.model_server", "--host", "127.0.0.1", "--port", str(port)]
    server = start(command, log=log, env=environment, cwd=REPO_ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=300, what="model server", log=log)
        answer = httpx.post(f"{url}/predict", json={"entity_ids": entity_ids}, timeout=30)
    finally:
        stop(server)

    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["entity_id"] for p in predictions] == entity_ids
    assert [p["prediction"] for p in predictions] == [float(value) for value in expected]


def test_a_model_class_that_raises_fails_the_run_with_its_own_traceback(
    first_run: RunStatus, backend: LocalBackend, scaffold: tuple[Path, Path, str]
) -> None:
    bare, clone, _ = scaffold
    source = (clone / MODEL_PATH).read_text()
    prepare = (
        '        """The model\'s feature columns (float32) and its label, from rows holding the raw features."""\n'
    )
    bug = '        if len(frame) > 10_000:\n            raise ValueError("too many rows for this feature")\n'
    broken = source.replace(prepare, prepare + bug)
    assert broken != source
    commit = push_change(bare, clone, {MODEL_PATH: broken}, "a model class with a bug the tests miss")

    status = wait_for(
        backend, backend.submit("retrain", retrain_params((str(bare), commit)), run_name="retrain-bug", labels={})
    )

    push_change(bare, clone, {MODEL_PATH: source}, "bug fixed")
    assert status.phase is RunPhase.FAILED
    line = broken.splitlines().index('            raise ValueError("too many rows for this feature")') + 1
    assert status.message.startswith(
        "step train failed: HookError: step train: hook src/training/xgb_model.py:XGBModel raised "
        f"ValueError: too many rows for this feature at src/training/xgb_model.py:{line}"
    ), status.message
    assert "repository traceback:" in status.message and "in prepare" in status.message
    assert status.outputs["repo-tests"]["ran"], "the repository's tests passed: they miss this bug"
    assert "train" not in status.outputs and "build-training-set" in status.outputs
