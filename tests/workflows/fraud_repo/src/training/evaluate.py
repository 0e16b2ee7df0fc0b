"""The fraud team's gate metric: share of the frauds found among the riskiest tenth of transactions."""

import numpy as np


def recall_at_top_decile(truth: np.ndarray, scores: np.ndarray) -> float:
    cutoff = np.quantile(scores, 0.9)
    flagged = scores >= cutoff
    return float((flagged & (truth == 1)).sum() / max(1, (truth == 1).sum()))
