"""The served model: one MLflow model version behind its pyfunc interface.

The model is loaded as pyfunc, which every flavour provides, so the server
serves whatever the training pipeline registered. When the pyfunc wraps a
native XGBoost ``Booster``, the booster is called directly with
``inplace_predict`` on one thread: the numbers are the ones pyfunc's
``DMatrix`` path gives (the tests compare them exactly), but a one-row request
skips building a ``DMatrix``, XGBoost's pandas inspection and OpenMP's thread
fan-out, which on a busy node turn a sub-millisecond prediction into tens of
milliseconds. Requests run in parallel anyway.

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
        """Arrange feature columns into the frame the model was trained on (typed arrays; no ``astype`` copy)."""
        return pd.DataFrame(
            {name: np.asarray(columns[name], dtype=self._dtypes.get(name)) for name in self.feature_names}, copy=False
        )

    def predict(self, frame: pd.DataFrame) -> list[PredictionValue]:
        """One prediction per row of ``frame``, as plain JSON-ready values."""
        output = np.asarray(self._predict(frame))
        if output.ndim == 2 and output.shape[1] == 1:
            output = output[:, 0]
        rows: list[PredictionValue] = output.tolist()
        return rows


def _native_booster(model: PyFuncModel) -> xgb.Booster | None:
    if model.loader_module != "mlflow.xgboost":
        return None
    raw = model.get_raw_model()  # type: ignore[no-untyped-call]  # unannotated in MLflow
    return raw if isinstance(raw, xgb.Booster) else None


def _in_place(booster: xgb.Booster, feature_names: tuple[str, ...]) -> Callable[[pd.DataFrame], Any]:
    """The booster's single-threaded ``inplace_predict`` on the frame's values, in ``feature_names`` order.

    A plain array skips XGBoost's per-call pandas inspection, the costliest
    step for a one-row request; the column order is checked once here instead.
    """
    if booster.feature_names and tuple(booster.feature_names) != feature_names:
        raise PermanentError(
            f"the model's signature lists features {list(feature_names)} but its booster was trained on "
            f"{list(booster.feature_names)}; log the model with a signature that matches its training frame"
        )
    booster.set_param({"nthread": 1})

    def predict(frame: pd.DataFrame) -> Any:
        return booster.inplace_predict(frame.to_numpy(dtype=np.float64))

    return predict
