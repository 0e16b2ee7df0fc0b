"""The churn model's own tests; mlops-gitops runs them at every pushed commit before training it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from src.training.xgb_model import FEATURES, LABEL, XGBModel
from src.training.xgb_train import booster_settings, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rows() -> pd.DataFrame:
    """Customers whose churn follows their engagement, with the columns the feature service returns."""
    rng = np.random.default_rng(7)
    size = 2_000
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1, size + 1),
            "event_timestamp": pd.Timestamp("2026-11-01", tz="UTC"),
            "tenure_months": rng.integers(0, 72, size),
            "monthly_charges": rng.uniform(10, 120, size),
            "contract_months": rng.choice([1, 12, 24], size),
            "sessions_30d": rng.integers(0, 60, size),
            "avg_session_minutes": rng.uniform(0, 45, size),
            "days_since_last_login": rng.integers(0, 90, size),
            "support_tickets_30d": rng.integers(0, 6, size),
            "payment_failures_90d": rng.integers(0, 4, size),
        }
    )
    risk = frame["days_since_last_login"] / 90 + frame["payment_failures_90d"] / 4 - frame["tenure_months"] / 72
    frame[LABEL] = (risk + rng.normal(0, 0.2, size) > 0.3).astype(int)
    return frame


def test_prepare_returns_every_feature_as_float_and_the_label(rows: pd.DataFrame) -> None:
    features, label = XGBModel({}).prepare(rows)

    assert set(FEATURES) <= set(features.columns)
    assert LABEL not in features.columns
    assert (features.dtypes == "float32").all()
    assert not features.isna().any().any()
    assert label.tolist() == rows[LABEL].tolist()


def test_booster_params_keep_the_configured_hyperparameters() -> None:
    params = XGBModel({"max_depth": 3, "eta": 0.1}).booster_params()

    assert params["objective"] == "binary:logistic"
    assert (params["max_depth"], params["eta"]) == (3, 0.1)


def test_the_configured_model_learns_churn(rows: pd.DataFrame) -> None:
    base = yaml.safe_load((ROOT / "configs" / "base.yaml").read_text())
    params = yaml.safe_load((ROOT / "configs" / "xgb_model_params.yaml").read_text())

    _, auc = train(rows, base, params)

    assert auc > 0.8


def test_params_file_spelling_becomes_native_xgboost() -> None:
    native, rounds = booster_settings({"learning_rate": 0.3, "random_state": 1, "n_estimators": 12, "max_depth": 2})

    assert native == {"eta": 0.3, "seed": 1, "max_depth": 2}
    assert rounds == 12
