"""Train the churn model on a laptop with the same model class the pipelines use.

    python -m src.training.xgb_train --data training_set.parquet

The data is a parquet file with the feature service's columns and the label
(the pipelines' training sets have this shape). Settings come from
``configs/base.yaml``, hyperparameters from ``configs/xgb_model_params.yaml``.
The hold-out AUC is printed and the booster saved to ``model_output``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
import yaml
from sklearn.metrics import roc_auc_score

from src.training.xgb_model import XGBModel

ROOT = Path(__file__).resolve().parents[2]
_ROUNDS_KEYS = ("n_estimators", "num_boost_round")
_RENAMED = {"random_state": "seed", "learning_rate": "eta"}


def booster_settings(params: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """XGBoost's native parameters and the number of rounds, from the params file's spelling."""
    rounds = int(next((params[key] for key in _ROUNDS_KEYS if key in params), 100))
    native = {_RENAMED.get(key, key): value for key, value in params.items() if key not in _ROUNDS_KEYS}
    return native, rounds


def train(frame: pd.DataFrame, base: dict[str, Any], params: dict[str, Any]) -> tuple[xgb.Booster, float]:
    """Train on a seeded split of ``frame``; return the booster and its hold-out AUC."""
    native, rounds = booster_settings(params)
    model = XGBModel(native)
    features, label = model.prepare(frame)
    holdout = np.random.default_rng(base["seed"]).random(len(frame)) < base["holdout_fraction"]
    train_set = xgb.DMatrix(features[~holdout], label=label[~holdout])
    booster = xgb.train(model.booster_params(), train_set, num_boost_round=rounds)
    predictions = booster.predict(xgb.DMatrix(features[holdout]))
    return booster, float(roc_auc_score(label[holdout], predictions))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="Parquet file with the features and the label.")
    parser.add_argument("--root", default=ROOT, type=Path, help="Repository root holding configs/.")
    args = parser.parse_args(argv)
    base = yaml.safe_load((args.root / "configs" / "base.yaml").read_text())
    params = yaml.safe_load((args.root / "configs" / "xgb_model_params.yaml").read_text())
    booster, auc = train(pd.read_parquet(args.data), base, params)
    output = args.root / base["model_output"]
    output.parent.mkdir(parents=True, exist_ok=True)
    booster.save_model(output)
    print(f"hold-out AUC {auc:.4f}; model saved to {output}")


if __name__ == "__main__":
    main()
