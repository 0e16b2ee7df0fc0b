"""The served model: one MLflow model version behind its pyfunc interface.

The model is loaded as pyfunc, which every flavour provides, so the server
serves whatever the training pipeline registered: the pipelines register a
pyfunc model that runs the ML repository's feature preparation before its
booster, so a model with derived features takes the feature service's raw
features like any other. When the pyfunc wraps a
native XGBoost ``Booster``, the booster is called directly with
``inplace_predict`` on one thread, on a plain float64 matrix built straight
from the feature columns: the numbers are the ones pyfunc's ``DMatrix`` path
gives (XGBoost computes in float32 either way, and the tests compare them
exactly), but a small request skips a pandas ``DataFrame``, a ``DMatrix``,
XGBoost's pandas inspection and OpenMP's thread fan-out, which on a busy node
turn a sub-millisecond prediction into tens of milliseconds. Other flavours
get a typed ``DataFrame``.

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
# What the model is called on: a float64 matrix for a native booster, a typed frame for any other pyfunc.
ModelInput = np.ndarray[Any, np.dtype[np.float64]] | pd.DataFrame

# MLflow error codes that mean "this URI will never load"; anything else (5xx, timeouts) may heal.
_PERMANENT_MLFLOW_ERRORS = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "PERMISSION_DENIED", "UNAUTHENTICATED", "BAD_REQUEST"}
)


class ServedModel:
    """A loaded pyfunc model plus the column names and dtypes its input frame must have."""

    def __init__(self, model: PyFuncModel, available_features: Sequence[str]) -> None:
        booster = _native_booster(model)
        signature: ModelSignature | None = model.metadata.signature
        schema = signature.inputs if signature is not None else None
        self._dtypes: dict[str, Any] = {}
        if isinstance(schema, Schema) and schema.has_input_names():
            self.feature_names: tuple[str, ...] = tuple(str(name) for name in schema.input_names())
            self._dtypes = dict(zip(self.feature_names, schema.numpy_types(), strict=True))
        elif booster is not None and booster.feature_names:
            self.feature_names = tuple(booster.feature_names)
        else:
            self.feature_names = tuple(available_features)
        unavailable = sorted(set(self.feature_names) - set(available_features))
        if unavailable:
            raise PermanentError(
                f"the model expects features {unavailable} that the feature service does not provide; "
                "add them to the feature service or serve a model trained on its features"
            )
        self._predict = model.predict if booster is None else _in_place(booster, self.feature_names)
        self._takes_matrix = booster is not None

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

    def model_input(self, columns: Mapping[str, Sequence[Any]]) -> ModelInput:
        """Arrange feature columns, in the order the model was trained on, into what the model is called on."""
        if self._takes_matrix:
            rows = zip(*(columns[name] for name in self.feature_names), strict=True)
            return np.array(list(rows), dtype=np.float64).reshape(-1, len(self.feature_names))
        return pd.DataFrame(
            {name: np.asarray(columns[name], dtype=self._dtypes.get(name)) for name in self.feature_names}, copy=False
        )

    def predict(self, model_input: ModelInput) -> list[PredictionValue]:
        """One prediction per row of ``model_input``, as plain JSON-ready values."""
        output = np.asarray(self._predict(model_input))
        if output.ndim == 2 and output.shape[1] == 1:
            output = output[:, 0]
        rows: list[PredictionValue] = output.tolist()
        return rows


def _native_booster(model: PyFuncModel) -> xgb.Booster | None:
    if model.loader_module != "mlflow.xgboost":
        return None
    raw = model.get_raw_model()  # type: ignore[no-untyped-call]  # unannotated in MLflow
    return raw if isinstance(raw, xgb.Booster) else None


def _in_place(booster: xgb.Booster, feature_names: tuple[str, ...]) -> Callable[[ModelInput], Any]:
    """The booster's single-threaded ``inplace_predict``, for matrices whose columns are in ``feature_names`` order.

    A plain array skips XGBoost's per-call pandas inspection, the costliest
    step for a one-row request; the column order is checked once here instead.
    """
    if booster.feature_names and tuple(booster.feature_names) != feature_names:
        raise PermanentError(
            f"the model's signature lists features {list(feature_names)} but its booster was trained on "
            f"{list(booster.feature_names)}; log the model with a signature that matches its training frame"
        )
    booster.set_param({"nthread": 1})

    def predict(matrix: ModelInput) -> Any:
        return booster.inplace_predict(matrix)

    return predict
