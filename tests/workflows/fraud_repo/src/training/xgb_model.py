"""Fraud scoring: raw transaction features plus a night-time flag."""

import pandas as pd

FEATURES = ["amount", "merchant_risk", "hour_of_day", "foreign", "tx_count_24h"]


class FraudModel:
    def __init__(self, params):
        self.params = dict(params)

    def prepare(self, frame: pd.DataFrame):
        features = frame[FEATURES].astype("float32")
        features["at_night"] = (features["hour_of_day"] < 6).astype("float32")
        return features, frame["is_fraud"]

    def booster_params(self):
        return {"objective": "binary:logistic", "scale_pos_weight": 3.0, **self.params}
