"""Bound every MLflow call the service makes, so a down server fails an action fast instead of stalling it.

MLflow's client retries a failed request itself, 7 times with exponential
backoff by default: about four and a half minutes inside one call while the
server is down. In the service that call runs on the dispatcher's thread, so
every other event waits behind it, and a promotion whose registry lookup is retried
outlives the dispatcher's lease (another dispatcher may then take the event).
The dispatcher already retries a failed action with its own backoff and
dead-letter, so the calls are kept short. MLflow reads its retry policy only
from the environment, at each request; the service sets it once at start-up.
"""

from __future__ import annotations

import os

from mlops_gitops.settings import MlflowSettings


def bound_mlflow_requests(settings: MlflowSettings) -> None:
    """Apply ``mlflow.request_max_retries`` and ``mlflow.request_timeout_seconds`` to every MLflow client here."""
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(settings.request_max_retries)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(settings.request_timeout_seconds)
