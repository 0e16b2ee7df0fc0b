"""The logged model carries the repository's feature preparation: loaded anywhere, it derives features as training did.

Models are logged to a real MLflow tracking store (sqlite) and loaded back
through pyfunc, as the evaluation gate and the model server load them.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from core.errors import PermanentError
from devtools.demo.workspace import DERIVED_FEATURE, MODEL_PATH, add_derived_feature
from tests.workflows.test_mlrepo_hooks import MODEL_HOOK, training_rows, write
from workflows.mlrepo.hooks import HookError
from workflows.mlrepo.model import RepoModel
from workflows.mlrepo.scaffold import template_root
from workflows.steps.evaluate import built_in_metric, registered_model, score
from workflows.steps.model_logging import log_served_model

PARAMS = {"max_depth": 3, "eta": 0.3}
LABEL = "churned"


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[None]:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("served-model")
    yield
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def derived_repo(tmp_path: Path) -> Path:
    """The scaffold with the demo's derived feature in its model class."""
    repo = Path(shutil.copytree(template_root(), tmp_path / "churn-ml"))
    (repo / MODEL_PATH).write_text(add_derived_feature((repo / MODEL_PATH).read_text()))
    return repo


def trained(model: RepoModel, frame: pd.DataFrame) -> xgb.Booster:
    features, labels = model.prepare(frame)
    booster = xgb.train(model.booster_params(), xgb.DMatrix(features, label=labels), num_boost_round=8)
    booster.feature_names = list(features.columns)
    return booster


def logged(model: RepoModel, frame: pd.DataFrame) -> tuple[xgb.Booster, ModelInfo]:
    """A booster trained on ``frame``, logged as the train step logs it, in a run of its own."""
    booster = trained(model, frame)
    with mlflow.start_run():
        info = log_served_model(
            booster, model, raw_features(frame), label=LABEL, hyperparameters=PARAMS, repository_requirements=()
        )
    return booster, info


def assert_repository_code_gone(path_before: list[str], modules_before: set[str]) -> None:
    """Loading the model left neither the repository's code directory on the path nor its modules imported."""
    assert sys.path == path_before, "the model's code directory stays on the import path"
    assert not {name for name in set(sys.modules) - modules_before if name == "src" or name.startswith("src.")}


def raw_features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["customer_id", LABEL])


def test_the_logged_model_applies_the_repositorys_prepare_at_the_trained_commit(
    tracking: None, derived_repo: Path
) -> None:
    model = RepoModel("train", derived_repo, MODEL_HOOK, PARAMS)
    frame = training_rows(200)
    booster, info = logged(model, frame)
    path_before, modules_before = list(sys.path), set(sys.modules)

    requests = raw_features(frame).head(20)

    with registered_model(info.model_uri) as served:
        signature = served.metadata.signature
        predictions = served.predict(requests)

    assert signature is not None and signature.inputs.input_names() == list(raw_features(frame).columns)
    assert (booster.feature_names or [])[-1:] == [DERIVED_FEATURE]
    by_hand = requests.astype(np.float32)
    by_hand[DERIVED_FEATURE] = by_hand["monthly_charges"] / (by_hand["tenure_months"] + 1)
    expected = booster.inplace_predict(by_hand[booster.feature_names].to_numpy(np.float32))
    np.testing.assert_array_equal(predictions, expected)
    assert_repository_code_gone(path_before, modules_before)


def test_the_gate_scores_a_model_with_its_preparation_and_a_bare_booster_on_prepared_columns(
    tracking: None, derived_repo: Path
) -> None:
    model = RepoModel("train", derived_repo, MODEL_HOOK, PARAMS)
    frame, holdout = training_rows(300), training_rows(80)
    booster = trained(model, frame)
    features, truth = model.prepare(holdout)
    with mlflow.start_run():
        served = log_served_model(
            booster, model, raw_features(frame), label=LABEL, hyperparameters=PARAMS, repository_requirements=()
        )
        bare = mlflow.xgboost.log_model(
            booster, name="bare", signature=infer_signature(features, booster.inplace_predict(features.to_numpy()))
        )
    with_derived = holdout.assign(**{DERIVED_FEATURE: features[DERIVED_FEATURE]})
    auc = built_in_metric("auc")

    expected = auc(truth, booster.inplace_predict(features.to_numpy(np.float32)))
    assert score(served.model_uri, with_derived, truth, auc) == pytest.approx(expected)
    assert score(bare.model_uri, with_derived, truth, auc) == pytest.approx(expected)
    with pytest.raises(PermanentError, match=rf"lacks features \['{DERIVED_FEATURE}'\]"):
        score(bare.model_uri, holdout, truth, auc)


def test_a_model_class_that_cannot_prepare_a_request_without_its_label_fails_training(
    tracking: None, tmp_path: Path
) -> None:
    """The served model calls prepare with an empty label: a class that needs the label's values fails at logging."""
    model_source = (template_root() / MODEL_PATH).read_text()
    label_line = '        return features, frame[LABEL].astype("float32")\n'
    assert label_line in model_source
    needs_label = model_source.replace(label_line, '        return features, frame[LABEL].astype("int64")\n')
    repo = write(tmp_path / "repo", {MODEL_PATH: needs_label, "src/__init__.py": "", "src/training/__init__.py": ""})
    model = RepoModel("train", repo, MODEL_HOOK, PARAMS)
    frame = training_rows(100)
    booster = trained(model, frame)
    with mlflow.start_run(), pytest.raises(HookError, match=r"hook src/training/xgb_model\.py:XGBModel raised"):
        log_served_model(
            booster, model, raw_features(frame), label=LABEL, hyperparameters=PARAMS, repository_requirements=()
        )


def test_a_model_class_the_server_could_not_import_is_refused(tracking: None, tmp_path: Path) -> None:
    source = (template_root() / MODEL_PATH).read_text()
    repo = write(tmp_path / "repo", {"ml-code/model.py": source})
    model = RepoModel("train", repo, "ml-code/model.py:XGBModel", PARAMS)
    frame = training_rows(50)
    with mlflow.start_run(), pytest.raises(PermanentError, match="must be a Python identifier"):
        log_served_model(
            trained(model, frame),
            model,
            raw_features(frame),
            label=LABEL,
            hyperparameters=PARAMS,
            repository_requirements=(),
        )


LAZY_HELPER = "src/training/derived.py"
LAZY_FEATURE = "charges_per_tenure"


@pytest.fixture
def lazy_repo(tmp_path: Path) -> Path:
    """The scaffold with a model class whose prepare imports one of the repository's modules when it is called."""
    repo = Path(shutil.copytree(template_root(), tmp_path / "lazy-ml"))
    source = (repo / MODEL_PATH).read_text()
    line = '        features = frame[FEATURES].astype("float32")\n'
    assert line in source
    lazily = (
        f"{line}"
        "        from src.training.derived import charges_per_tenure\n"
        "\n"
        f'        features["{LAZY_FEATURE}"] = charges_per_tenure(features)\n'
    )
    (repo / MODEL_PATH).write_text(source.replace(line, lazily))
    (repo / LAZY_HELPER).write_text(
        'def charges_per_tenure(features):\n    return features["monthly_charges"] / (features["tenure_months"] + 1)\n'
    )
    return repo


def test_a_prepare_importing_its_repositorys_modules_lazily_trains_and_is_scored(
    tracking: None, lazy_repo: Path
) -> None:
    model = RepoModel("evaluate", lazy_repo, MODEL_HOOK, PARAMS)
    frame, holdout = training_rows(300), training_rows(80)
    booster, info = logged(model, frame)
    features, truth = model.prepare(holdout)
    path_before, modules_before = list(sys.path), set(sys.modules)
    auc = built_in_metric("auc")

    served = score(info.model_uri, holdout, truth, auc)

    assert (booster.feature_names or [])[-1:] == [LAZY_FEATURE]
    assert served == pytest.approx(auc(truth, booster.inplace_predict(features.to_numpy(np.float32))))
    assert_repository_code_gone(path_before, modules_before)


def test_loading_models_one_after_another_leaves_no_module_of_theirs_behind(tracking: None, derived_repo: Path) -> None:
    model = RepoModel("train", derived_repo, MODEL_HOOK, PARAMS)
    frame = training_rows(100)
    _, info = logged(model, frame)
    modules_before = set(sys.modules)

    for _ in range(3):
        with registered_model(info.model_uri) as served:
            served.predict(raw_features(frame).head(5))

    assert sorted(set(sys.modules) - modules_before) == []
