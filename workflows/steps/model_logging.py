"""Log a trained booster with the repository's feature preparation, as the one MLflow model that gets served.

The model is a pyfunc model from code (``workflows/mlrepo/served_model.py``):
its code paths hold the directory of the repository that contains the model
class, at the trained commit, and its configuration names the class, the
hyperparameters it was built with and the label column. Its input signature
is the feature service's features (what the model server looks up), so the
server needs nothing but the registered version to serve a model whose
features the repository derives.
"""

from __future__ import annotations

import importlib.util
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from core.errors import PermanentError
from workflows.mlrepo.model import RepoModel

_SIGNATURE_SAMPLE_ROWS = 100
_BOOSTER_ARTIFACT = "booster"


def _model_code() -> str:
    """The served model's code file, found without running it (it names the model when it runs)."""
    spec = importlib.util.find_spec("workflows.mlrepo.served_model")
    if spec is None or spec.origin is None:
        raise PermanentError("workflows/mlrepo/served_model.py is missing from this installation")
    return spec.origin


def _importable(model: RepoModel) -> tuple[str, str, Path]:
    """The model class's module and name, and the repository directory that ``code_paths`` ships with it."""
    file, _, name = model.reference.rpartition(":")
    parts = Path(file).with_suffix("").parts
    if not all(part.isidentifier() for part in parts):
        raise PermanentError(
            f"hook {model.reference} cannot be served: every directory and file name on its path must be a Python "
            "identifier, since the model server imports it as a module"
        )
    return ".".join(parts), name, model.repo_dir / Path(file).parts[0]


def _requirements(repository_requirements: tuple[str, ...]) -> list[str]:
    """What loading the model needs: the libraries it was trained with and the repository's own packages."""
    pinned = {
        "mlflow": mlflow.__version__,
        "xgboost": xgb.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
    }
    return [f"{package}=={version}" for package, version in pinned.items()] + list(repository_requirements)


def log_served_model(
    booster: xgb.Booster,
    model: RepoModel,
    raw_features: pd.DataFrame,
    *,
    label: str,
    hyperparameters: Mapping[str, Any],
    repository_requirements: tuple[str, ...],
) -> ModelInfo:
    """Log ``booster`` behind ``model``'s ``prepare`` in the active run; ``raw_features`` are the service's columns.

    ``prepare`` is called here as the served model will call it, without a label, so a model class that cannot
    prepare a request fails training with its own traceback instead of failing at serving.
    """
    module, class_name, code_dir = _importable(model)
    sample = raw_features.head(_SIGNATURE_SAMPLE_ROWS)
    prepared, _ = model.prepare(sample.assign(**{label: np.nan}))
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot carry missing values. Served requests never do: the model
        # server fills a missing online feature with its configured default or answers 404 before the schema.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column", category=UserWarning)
        signature = infer_signature(sample, booster.inplace_predict(prepared.to_numpy(np.float32)))
    with tempfile.TemporaryDirectory(prefix="mlops-booster-") as scratch:
        booster_file = Path(scratch) / "booster.ubj"
        booster.save_model(booster_file)
        info: ModelInfo = mlflow.pyfunc.log_model(
            name="model",
            python_model=_model_code(),
            artifacts={_BOOSTER_ARTIFACT: str(booster_file)},
            code_paths=[str(code_dir)],
            model_config={
                "module": module,
                "class": class_name,
                "params": dict(hyperparameters),
                "label": label,
                "booster_artifact": _BOOSTER_ARTIFACT,
            },
            signature=signature,
            pip_requirements=_requirements(repository_requirements),
        )
    return info
