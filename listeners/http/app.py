"""Build the webhook app; the service's ``serve`` command and the tests both start it this way.

``create_app`` takes the settings and an open ledger (nothing is read from the
environment here) and mounts any extra routers the caller brings, such as the
status API (which also serves the API description: the app has no open
``/docs``). Every ``DeliveryError`` becomes its 4xx with a reason; a ledger
that cannot be reached (``LedgerUnavailableError``, a ``TemporaryError``) or
refuses the write (``LedgerRefusedError``) is a 503 with ``Retry-After`` (the
error's own delay when it carries one), so the sender retries and nothing it
sent is lost. The app never sees the database library's errors.
Once the server starts, the start-up heap is frozen (:mod:`core.gc_pauses`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from core.errors import TemporaryError
from core.gc_pauses import freeze_startup_heap
from core.logging import get_logger
from listeners.http.group_commit import GroupCommitter
from listeners.http.large_bodies import BusyError, LargeBodySlots
from listeners.http.operations import operations_router
from listeners.http.webhooks import webhook_router
from listeners.intake import Intake
from listeners.rejections import DeliveryError
from listeners.settings import WEBHOOK_SOURCES, ListenerSettings
from triggers.ledger import Ledger, LedgerRefusedError

log = get_logger(__name__)
RETRY_AFTER_SECONDS = "5"


def create_app(
    settings: ListenerSettings,
    ledger: Ledger,
    *,
    kafka_ready: Callable[[], bool] | None = None,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The FastAPI app with ``POST /webhooks/{source}``, ``/healthz``, ``/readyz``, ``/metrics`` and ``extra_routers``.

    ``kafka_ready`` is the consumer's ``assigned`` check when a Kafka consumer runs
    beside the app; ``/readyz`` then also waits for partitions.
    """
    intake = Intake(settings, ledger, channel="http")
    committer = GroupCommitter(intake)
    _announce_security(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        freeze_startup_heap()
        yield
        committer.stop()

    app = FastAPI(
        title="mlops-gitops listeners",
        summary="Verified webhooks become ledger events.",
        lifespan=lifespan,
        # the API description is served by the caller's routers, behind a token, if at all
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(
        webhook_router(
            intake,
            committer,
            body_limits={name: settings.webhooks.body_limit(name) for name in WEBHOOK_SOURCES},
            open_sources=frozenset(settings.webhooks.open_sources()),
            large_bodies=LargeBodySlots(settings.webhooks.max_concurrent_large_bodies),
        )
    )
    app.include_router(operations_router(ledger, kafka_ready))
    for router in extra_routers:
        app.include_router(router)

    @app.exception_handler(DeliveryError)
    async def refuse(request: Request, error: DeliveryError) -> JSONResponse:
        intake.refused(str(request.path_params.get("source", "")), error)
        return JSONResponse({"error": error.reason, "detail": error.detail}, status_code=error.status)

    @app.exception_handler(BusyError)
    async def busy(_request: Request, error: BusyError) -> JSONResponse:
        return JSONResponse(
            {"error": "busy", "detail": str(error)}, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS}
        )

    @app.exception_handler(LedgerRefusedError)
    @app.exception_handler(TemporaryError)
    async def unavailable(_request: Request, error: Exception) -> JSONResponse:
        log.error("ledger unavailable; delivery not acknowledged", error_type=type(error).__name__)
        return JSONResponse(
            {"error": "ledger_unavailable", "detail": "the event could not be stored; retry later"},
            status_code=503,
            headers={"Retry-After": _retry_after(error)},
        )

    return app


def _retry_after(error: Exception) -> str:
    """The error's own delay when it knows one (``TemporaryError.delay``), else the default."""
    delay = error.delay if isinstance(error, TemporaryError) else None
    return RETRY_AFTER_SECONDS if delay is None else str(max(1, math.ceil(delay)))


def _announce_security(settings: ListenerSettings) -> None:
    open_sources = settings.webhooks.open_sources()
    log.info("webhook sources open", sources=open_sources)
    unsigned = settings.webhooks.unsigned(open_sources)
    if not unsigned:
        return
    if settings.insecure_dev:
        log.warning(
            "INSECURE: these webhook sources accept UNSIGNED deliveries because insecure_dev is on; "
            "never run this way outside a laptop",
            sources=unsigned,
        )
    else:
        log.info("webhook sources without a secret refuse every delivery (401)", sources=unsigned)
