"""``/healthz``, ``/readyz`` and ``/metrics``: what an orchestrator and Prometheus ask.

Liveness says only that the process answers; readiness says it can keep the
acknowledgement promise: the ledger answers, and Kafka partitions are assigned
when a consumer runs in this process.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from triggers.ledger import Ledger, LedgerError


def operations_router(ledger: Ledger, kafka_ready: Callable[[], bool] | None) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The ledger is reachable and Kafka partitions are assigned")
    def readyz() -> JSONResponse:
        checks: dict[str, bool] = {}
        try:
            ledger.database.ping()
            checks["ledger"] = True
        except LedgerError:
            checks["ledger"] = False
        if kafka_ready is not None:
            checks["kafka"] = kafka_ready()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router
