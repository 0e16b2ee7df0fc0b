import numpy as np
import pandas as pd
from src.training.evaluate import recall_at_top_decile
from src.training.xgb_model import FraudModel


def test_night_transactions_are_flagged():
    frame = pd.DataFrame(
        {
            "amount": [10.0, 20.0],
            "merchant_risk": [0.1, 0.9],
            "hour_of_day": [3, 14],
            "foreign": [0, 1],
            "tx_count_24h": [1, 5],
            "is_fraud": [0, 1],
        }
    )
    features, label = FraudModel({}).prepare(frame)
    assert features["at_night"].tolist() == [1.0, 0.0]
    assert label.tolist() == [0, 1]


def test_a_perfect_ranking_finds_every_fraud_in_the_top_decile():
    truth = np.array([0] * 90 + [1] * 10)
    assert recall_at_top_decile(truth, truth.astype(float)) == 1.0
