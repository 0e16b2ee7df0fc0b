"""The registered model: the ML repository's feature preparation, then the booster trained on what it returns.

A repository's model class derives features (``prepare`` in
``src/training/xgb_model.py``), so a booster alone cannot be served on the
feature service's raw features. The train step therefore logs one MLflow
pyfunc model holding both: this file as the model's code ("models from
code": MLflow runs it when the model loads and it names the model with
``set_model``), the booster as an artifact, and the repository's code at the
trained commit under ``code_paths``, which MLflow puts on the import path.
Whoever loads the model (the model server, the evaluation gate) calls the
same ``prepare`` training called, at the same commit, with the same
hyperparameters.

``prepare`` returns features and label; a request has no label, so the
label column it reads is present and empty (NaN) and what it returns for it
is dropped. The model's input signature is the feature service's features.

This file is run inside the model server, so it imports nothing of the service.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.pyfunc.model import PythonModel, PythonModelContext


class PreparedBooster(PythonModel):
    """``prepare`` of the repository's model class, then the booster's probabilities."""

    def load_context(self, context: PythonModelContext) -> None:
        config = context.model_config
        model_class = getattr(importlib.import_module(config["module"]), config["class"])
        self._model = model_class(dict(config["params"]))
        self._label = str(config["label"])
        self._booster = xgb.Booster()
        self._booster.load_model(context.artifacts[config["booster_artifact"]])
        self._booster.set_param({"nthread": 1})  # requests are a few rows: threads would only add hand-overs

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        frame = model_input.assign(**{self._label: np.nan})
        features, _ = self._model.prepare(frame)
        matrix = features[self._booster.feature_names].to_numpy(np.float32)
        return self._booster.inplace_predict(matrix)


mlflow.models.set_model(PreparedBooster())

# MLflow runs this file as a new module, ``code_model_<uuid>``, at every load and leaves it in ``sys.modules``.
# The model set above holds all it needs, so the entry goes: a server or a gate loading model after model keeps
# no module per load. Imported under its own name (never done by the service), the module stays.
if __name__.startswith("code_model_"):
    del sys.modules[__name__]
