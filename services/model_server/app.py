"""The model server's HTTP surface: predict, probes and metrics.

``create_app`` takes a settings object instead of reading the environment so
the entrypoint, tests and the benchmark build servers the same way.

Every route is ``async def`` and runs on the event loop. For the probes that
is plain. For ``/predict`` it is a measured choice: a request is a local
sqlite read and a single-threaded tree walk, a millisecond or two of work that
holds the GIL almost throughout, so a worker thread would add no parallelism,
only two thread hand-overs per request, and on a busy node each hand-over
waits for the scheduler. The answer is serialized by its pydantic model
directly (no second validation pass by FastAPI).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.errors import TemporaryError

from .features import EntityId
from .loading import LoadStatus, PredictorSlot
from .metrics import ServingMetrics
from .middleware import RequestMetricsMiddleware
from .predictor import Predictor, UnknownEntitiesError, open_predictor
from .schemas import EntityPrediction, PredictRequest, PredictResponse, Readiness, UnknownEntities
from .settings import ModelServerSettings


def create_app(settings: ModelServerSettings) -> FastAPI:
    """Build the server for the model version ``settings`` names; it loads once the app starts."""
    metrics = ServingMetrics()
    slot = PredictorSlot()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(slot.fill(partial(open_predictor, settings, metrics)))
        loading.add_done_callback(lambda _task: _record_model_info(slot, settings, metrics))
        yield
        loading.cancel()
        with suppress(asyncio.CancelledError):
            await loading

    app = FastAPI(
        title="Model server",
        summary=f"Predictions of {settings.model_name} version {settings.model_version} on Feast online features.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "alive"}

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz() -> JSONResponse:
        """Readiness: the model version is loaded and the feature service is open."""
        body = Readiness(
            status=slot.status, model_name=settings.model_name, model_version=settings.model_version, reason=slot.reason
        )
        return JSONResponse(body.model_dump(), status_code=200 if slot.status is LoadStatus.READY else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={404: {"model": UnknownEntities}, 503: {"description": "Model not loaded yet"}},
    )
    async def predict(request: PredictRequest) -> Response:
        """Predict for each entity id, using its online features."""
        predictor = slot.predictor
        if predictor is None:
            return JSONResponse({"detail": f"model is {slot.status}; see /readyz"}, status_code=503)
        _check_entity_ids(request.entity_ids, predictor, settings.max_entities_per_request)
        try:
            predictions = predictor.predict(request.entity_ids)
        except UnknownEntitiesError as e:
            unknown = UnknownEntities(message=str(e), entity_key=e.entity_key, missing_entity_ids=list(e.entity_ids))
            return JSONResponse(unknown.model_dump(), status_code=404)
        except TemporaryError as e:
            return JSONResponse({"detail": str(e)}, status_code=503)
        answer = PredictResponse(
            model_name=settings.model_name,
            model_version=settings.model_version,
            model_uri=settings.model_uri,
            model_run_id=settings.model_run_id,
            entity_key=settings.entity_key,
            predictions=[
                EntityPrediction(
                    entity_id=entity_id, prediction=value, used_default_features=entity_id in predictions.defaulted_ids
                )
                for entity_id, value in zip(predictions.entity_ids, predictions.values, strict=True)
            ],
        )
        return Response(answer.model_dump_json(), media_type="application/json")

    return app


def _check_entity_ids(entity_ids: list[EntityId], predictor: Predictor, max_entities: int) -> None:
    """Refuse ids of the wrong type for the entity key, or too many, in FastAPI's own 422 format."""
    key_type = predictor.features.key_type
    errors: list[dict[str, Any]] = [
        {
            "type": "entity_id_type",
            "loc": ("body", "entity_ids", position),
            "msg": f"{predictor.features.entity_key} values are of type {key_type.__name__}",
            "input": entity_id,
        }
        for position, entity_id in enumerate(entity_ids)
        if not isinstance(entity_id, key_type)
    ]
    if len(entity_ids) > max_entities:
        errors.append(
            {
                "type": "too_long",
                "loc": ("body", "entity_ids"),
                "msg": f"at most {max_entities} entity ids per request",
                "input": len(entity_ids),
            }
        )
    if errors:
        raise RequestValidationError(errors)


def _record_model_info(slot: PredictorSlot, settings: ModelServerSettings, metrics: ServingMetrics) -> None:
    if slot.status is LoadStatus.READY:
        metrics.model_info.labels(settings.model_name, settings.model_version, settings.model_run_id).set(1)
