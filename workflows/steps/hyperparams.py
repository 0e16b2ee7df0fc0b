"""XGBoost hyperparameters from the ML code repo, overridden by pipeline parameters.

The repo's ``configs/xgb_model_params.yaml`` is a flat mapping of XGBoost
parameters, in native (``eta``, ``seed``) or scikit-learn spelling
(``learning_rate``, ``random_state``, ``n_estimators``), so the file a data
scientist edits is what gets trained. Pipeline parameters override single
keys. Threading is not the file's business: the trainer sizes it to the cores.

A push decides what gets trained, so what a pushed file can ask for is
bounded: the number of rounds and the parameters that size each tree have
upper limits (``UPPER_BOUNDS``), and a value over one fails the run with the
limit named instead of occupying the cluster for days.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import PermanentError

DEFAULT_ROUNDS = 100
_ROUNDS_KEYS = ("num_boost_round", "n_estimators")
_RENAMED = {"random_state": "seed", "n_jobs": "nthread"}
_MANAGED_BY_TRAINER = ("nthread",)

Scalar = str | float | int | bool

UPPER_BOUNDS: dict[str, float] = {
    "num_boost_round": 10_000,
    "max_depth": 64,
    "max_leaves": 65_536,
    "max_bin": 4_096,
    "num_parallel_tree": 100,
}
"""The largest value each size-setting parameter (after renaming, rounds included) may take."""


@dataclass(frozen=True)
class Hyperparameters:
    booster: dict[str, Scalar]
    num_boost_round: int


def read_params_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PermanentError(f"hyperparameter file {path.name} is missing at the trained commit; add it to the repo")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise PermanentError(f"hyperparameter file {path.name} is not valid YAML: {e}") from e
    if not isinstance(loaded, dict) or not all(isinstance(v, Scalar) for v in loaded.values()):
        raise PermanentError(f"hyperparameter file {path.name} must be a flat mapping of names to scalar values")
    return loaded


def resolve(
    from_file: dict[str, Any], overrides: dict[str, Scalar], rounds_override: int | None, seed: int
) -> Hyperparameters:
    """Merge file and overrides into XGBoost booster params and a round count, seeded for repeatability."""
    merged: dict[str, Scalar] = {"objective": "binary:logistic", "seed": seed}
    for key, value in {**from_file, **overrides}.items():
        merged[_RENAMED.get(key, key)] = value
    rounds = rounds_override or int(next((merged[k] for k in _ROUNDS_KEYS if k in merged), DEFAULT_ROUNDS))
    booster = {k: v for k, v in merged.items() if k not in _ROUNDS_KEYS and k not in _MANAGED_BY_TRAINER}
    _check_bounds({**booster, "num_boost_round": rounds})
    return Hyperparameters(booster=booster, num_boost_round=rounds)


def _check_bounds(params: dict[str, Scalar]) -> None:
    for key, bound in UPPER_BOUNDS.items():
        value = params.get(key)
        if value is None or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except ValueError:
            raise PermanentError(f"hyperparameter {key} is {value!r}, not a number") from None
        if not number <= bound:  # also refuses NaN
            raise PermanentError(f"hyperparameter {key} is {value}, over its upper bound {bound:g}; lower it")
