"""Loading the model in the background, so liveness and readiness mean different things.

Downloading a model version can take longer than a liveness probe waits. The
server therefore starts answering ``/healthz`` at once and loads in the
background; ``/readyz`` turns ready only when the model and the feature
service are usable, which is what lets Kubernetes hold traffic back during a
rollout. An MLflow or Feast outage is retried with capped backoff for as long
as it lasts; a configuration that can never load is reported on ``/readyz``
with the reason, so a stuck rollout explains itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from core.errors import PermanentError, TemporaryError
from core.logging import get_logger

from .predictor import Predictor

log = get_logger(__name__)


class LoadStatus(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class PredictorSlot:
    """Where the predictor appears once loaded, with the load status and, on failure, why."""

    def __init__(self) -> None:
        self.predictor: Predictor | None = None
        self.status = LoadStatus.LOADING
        self.reason = ""

    async def fill(self, open_predictor: Callable[[], Predictor], max_backoff_seconds: float = 30.0) -> None:
        """Call ``open_predictor`` in a worker thread until it succeeds or fails permanently."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TemporaryError),
            wait=wait_exponential_jitter(initial=1.0, max=max_backoff_seconds),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    predictor = await asyncio.to_thread(open_predictor)
        except PermanentError as e:
            self.status, self.reason = LoadStatus.FAILED, str(e)
            log.error("model_load_failed", reason=self.reason)
            return
        self.predictor, self.status = predictor, LoadStatus.READY
        log.info("model_loaded", features=list(predictor.model.feature_names))


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("model_load_retry", attempt=state.attempt_number, reason=str(error))
