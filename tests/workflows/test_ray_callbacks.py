"""A repository's custom objective and metric run on the Ray workers; when one raises, its traceback comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from workflows.mlrepo.hooks import repository_frames
from workflows.mlrepo.model import RepoModel
from workflows.steps.contract import LOOPBACK, RayRuntime
from workflows.steps.ray_xgboost import CallbackError, ensure_ray, shutdown_ray, train_distributed

pytestmark = pytest.mark.slow

MODEL = """\
import numpy as np


class XGBModel:
    def __init__(self, params):
        self.params = params

    def booster_params(self):
        return {"tree_method": "hist", "max_depth": 2, "disable_default_eval_metric": 1}

    def objective(self, predictions, dmatrix):
        labels = dmatrix.get_label()
        probabilities = 1.0 / (1.0 + np.exp(-predictions))
        return probabilities - labels, probabilities * (1.0 - probabilities)

    def custom_metric(self, predictions, dmatrix):
        return "share_positive", float((predictions > 0).mean())


class LazyModel(XGBModel):
    def objective(self, predictions, dmatrix):
        from src.training.gradients import logistic  # imported on the worker, when it is called

        return logistic(predictions, dmatrix.get_label())


class BrokenModel(XGBModel):
    def objective(self, predictions, dmatrix):
        return self.gradient(predictions)

    def gradient(self, predictions):
        raise ArithmeticError("the gradient diverged")
"""


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    ensure_ray(RayRuntime(num_cpus=2))
    yield
    shutdown_ray()


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    features = rng.random((2_000, 3)).astype(np.float32)
    return features, (features[:, 0] > 0.5).astype(np.float32)


GRADIENTS = """\
import numpy as np


def logistic(predictions, labels):
    probabilities = 1.0 / (1.0 + np.exp(-predictions))
    return probabilities - labels, probabilities * (1.0 - probabilities)
"""


def repo(tmp_path: Path) -> Path:
    (tmp_path / "src" / "training").mkdir(parents=True)
    (tmp_path / "src" / "training" / "xgb_model.py").write_text(MODEL)
    (tmp_path / "src" / "training" / "gradients.py").write_text(GRADIENTS)
    return tmp_path


@pytest.mark.parametrize(
    "hook",
    ["XGBModel", "LazyModel"],
    ids=["objective-and-metric", "objective-importing-the-repository-when-called"],
)
def test_a_repository_objective_and_metric_train_the_distributed_booster(
    ray_instance: None, tmp_path: Path, data: tuple[np.ndarray, np.ndarray], hook: str
) -> None:
    root = repo(tmp_path)
    model = RepoModel("train", root, f"src/training/xgb_model.py:{hook}", {})
    features, labels = data

    booster = train_distributed(
        features,
        labels,
        model.booster_params(),
        10,
        2,
        tracker_ip=LOOPBACK,
        callbacks=(model.callback("objective"), model.callback("custom_metric")),
        import_roots=(str(root),),  # LazyModel imports src.training.gradients on the worker, when it is called
    )

    predictions = booster.inplace_predict(features, predict_type="margin")
    assert ((predictions > 0) == (labels > 0.5)).mean() > 0.9


def test_a_raising_objective_comes_back_with_its_repository_frames(
    ray_instance: None, tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    root = repo(tmp_path)
    model = RepoModel("train", root, "src/training/xgb_model.py:BrokenModel", {})
    features, labels = data

    with pytest.raises(CallbackError) as caught:
        train_distributed(
            features,
            labels,
            model.booster_params(),
            10,
            2,
            tracker_ip=LOOPBACK,
            callbacks=(model.callback("objective"), None),
        )

    error = caught.value
    assert error.callback == "objective" and error.error == "ArithmeticError: the gradient diverged"
    frames = repository_frames(error.frames, root)
    assert [(file, function) for file, _, function, _ in frames] == [
        ("src/training/xgb_model.py", "objective"),
        ("src/training/xgb_model.py", "gradient"),
    ]
