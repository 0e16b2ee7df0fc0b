"""The churn classifier: the features it sees, its label and its booster parameters.

mlops-gitops calls this class at the commit it trains (``hooks.model`` in
``mlops.yaml``) and ``xgb_train.py`` uses it on a laptop, so both train the
same model. The service hands ``prepare`` the training set exactly as the
feature service returned it (entity, timestamp, features, label) and trains
the booster on what it returns, distributed over its Ray workers. Feature
engineering belongs here: a column added to the returned frame is a feature of
the model, and the MLflow run lists it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

LABEL = "churned"
FEATURES = [
    "tenure_months",
    "monthly_charges",
    "contract_months",
    "sessions_30d",
    "avg_session_minutes",
    "days_since_last_login",
    "support_tickets_30d",
    "payment_failures_90d",
]


class XGBModel:
    """Features, label and booster parameters of the churn classifier.

    ``params`` are the hyperparameters of ``configs/xgb_model_params.yaml``
    (with any pipeline overrides). A custom objective or evaluation metric
    would be a method named ``objective`` or ``custom_metric`` with XGBoost's
    ``(predictions, dmatrix)`` signature.
    """

    label = LABEL

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def prepare(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """The model's feature columns (float32) and its label, from rows holding the raw features."""
        features = frame[FEATURES].astype("float32")
        return features, frame[LABEL].astype("float32")

    def booster_params(self) -> dict[str, Any]:
        return {"objective": "binary:logistic", "eval_metric": "auc", **self.params}
