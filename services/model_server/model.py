"""The served model: one MLflow model version behind its pyfunc interface.

The model is loaded as pyfunc, which every flavour provides, so the server
serves whatever the training pipeline registered. When the pyfunc wraps a
native XGBoost ``Booster``, the booster is called directly with
``inplace_predict`` on one thread: the numbers are the ones pyfunc's
``DMatrix`` path gives (the tests compare them exactly), but a one-row request
skips building a ``DMatrix`` and OpenMP's thread fan-out, which on a busy node
turns a 2 ms prediction into a 100 ms one. Requests run in parallel anyway.

The model's input signature, when it has one, decides the column order and the
dtypes of the frame; Feast returns columns in no guaranteed order and with
Python types, and a mismatch there is the classic silent training/serving skew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.pyfunc import PyFuncModel, load_model
from mlflow.types import Schema

from core.errors import PermanentError, TemporaryError

PredictionValue = float | int | str | bool | list[float | int | str | bool]

# MLflow error codes that mean "this URI will never load"; anything else (5xx, timeouts) may heal.
_PERMANENT_MLFLOW_ERRORS = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "PERMISSION_DENIED", "UNAUTHENTICATED", "BAD_REQUEST"}
)


class ServedModel:
    """A loaded pyfunc model plus the column names and dtypes its input frame must have."""

    def __init__(self, model: PyFuncModel, available_features: Sequence[str]) -> None:
        self._predict = _prediction_function(model)
        signature: ModelSignature | None = model.metadata.signature
        schema = signature.inputs if signature is not None else None
        if isinstance(schema, Schema) and schema.has_input_names():
            self.feature_names: tuple[str, ...] = tuple(str(name) for name in schema.input_names())
            self._dtypes: dict[str, Any] = dict(zip(self.feature_names, schema.numpy_types(), strict=True))
        else:
            self.feature_names = tuple(available_features)
            self._dtypes = {}
        unavailable = sorted(set(self.feature_names) - set(available_features))
        if unavailable:
            raise PermanentError(
                f"the model expects features {unavailable} that the feature service does not provide; "
                "add them to the feature service or serve a model trained on its features"
            )

    @classmethod
    def load(cls, tracking_uri: str, model_uri: str, available_features: Sequence[str]) -> ServedModel:
        """Load ``model_uri`` from the MLflow server at ``tracking_uri``."""
        mlflow.set_tracking_uri(tracking_uri)
        try:
            model = load_model(model_uri)
        except MlflowException as e:
            if e.error_code in _PERMANENT_MLFLOW_ERRORS:
                raise PermanentError(f"cannot load {model_uri}: {e.message}; check MODEL_URI") from e
            raise TemporaryError(f"MLflow failed to serve {model_uri}: {e.message}; retrying") from e
        except OSError as e:
            raise TemporaryError(f"cannot reach MLflow at {tracking_uri} to load {model_uri}: {e}; retrying") from e
        return cls(model, available_features)

    def frame(self, columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
        """Arrange feature columns into the frame the model was trained on."""
        frame = pd.DataFrame({name: columns[name] for name in self.feature_names})
        return frame.astype(self._dtypes) if self._dtypes else frame

    def predict(self, frame: pd.DataFrame) -> list[PredictionValue]:
        """One prediction per row of ``frame``, as plain JSON-ready values."""
        output = np.asarray(self._predict(frame))
        if output.ndim == 2 and output.shape[1] == 1:
            output = output[:, 0]
        rows: list[PredictionValue] = output.tolist()
        return rows


def _prediction_function(model: PyFuncModel) -> Callable[[pd.DataFrame], Any]:
    """The booster's single-threaded ``inplace_predict`` for a native XGBoost model, pyfunc's ``predict`` otherwise."""
    if model.loader_module == "mlflow.xgboost":
        booster = model.get_raw_model()  # type: ignore[no-untyped-call]  # unannotated in MLflow
        if isinstance(booster, xgb.Booster):
            booster.set_param({"nthread": 1})
            inplace_predict: Callable[[pd.DataFrame], Any] = booster.inplace_predict
            return inplace_predict
    predict: Callable[[pd.DataFrame], Any] = model.predict
    return predict
