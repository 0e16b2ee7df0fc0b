"""The repository's model class as the training and evaluation steps use it.

The class named by ``hooks.model`` in ``mlops.yaml`` is constructed with the
resolved hyperparameters and asked three things: ``prepare(frame)`` turns
the training set (entity, timestamp, the feature service's features, label)
into the model's feature columns and its label; ``booster_params()`` gives
XGBoost's parameters; optional ``objective`` and ``custom_metric`` methods are
passed to ``xgboost.train``. Everything else (sharding over Ray workers, the
tracker, logging to MLflow, the gate) stays with the service. Each call runs
through :func:`workflows.mlrepo.hooks.calling` with the repository's root
on the import path (a method may import the repository's modules when it
runs), and what it returns is checked, so a broken hook fails its step with
the repository's own error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import PermanentError
from workflows.mlrepo.hooks import calling, load_hook, repository_imports

XgbCallback = Callable[[np.ndarray, Any], Any]


class RepoModel:
    """One instance of the repository's model class, built for one step."""

    def __init__(self, step: str, repo_dir: Path, reference: str, params: Mapping[str, Any]) -> None:
        self._step, self.repo_dir, self.reference = step, repo_dir, reference
        model_class = load_hook(step, repo_dir, reference)
        with self._calling():
            self._model = model_class(dict(params))

    @contextmanager
    def _calling(self) -> Iterator[None]:
        """Call the repository's code with its root importable, for a method that imports its modules lazily."""
        with repository_imports(str(self.repo_dir.resolve())), calling(self._step, self.reference, self.repo_dir):
            yield

    def _refuse(self, what: str) -> PermanentError:
        return PermanentError(f"step {self._step}: hook {self.reference} {what}")

    def prepare(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The model's features (float32 columns, named) and its label for ``frame``."""
        with self._calling():
            prepared = self._model.prepare(frame.copy())
        if not (isinstance(prepared, tuple) and len(prepared) == 2 and isinstance(prepared[0], pd.DataFrame)):
            raise self._refuse("prepare must return (features DataFrame, label)")
        features, label = prepared
        labels = np.asarray(label, dtype=np.float32)
        if features.shape[1] == 0 or len(features) != len(frame) or len(labels) != len(frame):
            raise self._refuse(
                f"prepare returned {features.shape[1]} feature columns over {len(features)} rows and "
                f"{len(labels)} labels for {len(frame)} rows; it must keep every row and give at least one feature"
            )
        not_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
        if not_numeric or not all(isinstance(c, str) for c in features.columns) or features.columns.has_duplicates:
            raise self._refuse(f"prepare must return uniquely named numeric features; not numeric: {not_numeric}")
        return features.astype(np.float32), labels

    def booster_params(self) -> dict[str, Any]:
        with self._calling():
            params = self._model.booster_params()
        if not isinstance(params, Mapping):
            raise self._refuse("booster_params must return a mapping of XGBoost parameters")
        return dict(params)

    def callback(self, name: str) -> XgbCallback | None:
        """The model's optional ``objective`` or ``custom_metric`` method, or none."""
        function = getattr(self._model, name, None)
        if function is None:
            return None
        if not callable(function):
            raise self._refuse(f"{name} must be a method (predictions, dmatrix)")
        return function  # type: ignore[no-any-return]
