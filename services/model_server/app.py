"""The model server's HTTP surface: predict, probes and metrics.

``create_app`` takes a settings object instead of reading the environment so
the entrypoint, tests and the benchmark build servers the same way.

Every route is ``async def`` and runs on the event loop. For the probes that
is plain. For ``/predict`` it is a measured choice: a request is a local
sqlite read and a single-threaded tree walk, a millisecond or two of work that
holds the GIL almost throughout, so a worker thread would add no parallelism,
only two thread hand-overs per request, and on a busy node each hand-over
waits for the scheduler. The answer is serialized by its pydantic model
directly (no second validation pass by FastAPI). A request body is bounded
before it is read (``MAX_BODY_BYTES``) and its ids are counted before any is
checked, so no request can hold the loop for long or earn a large error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import NoReturn

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic_core import from_json

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
        responses={
            404: {"model": UnknownEntities},
            411: {"description": "No Content-Length"},
            413: {"description": "Body over MAX_BODY_BYTES"},
            422: {"description": "The first problem with the body"},
            503: {"description": "Model not loaded yet"},
        },
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST_SCHEMA}}}},
    )
    async def predict(request: Request) -> Response:
        """Predict for each entity id, using its online features."""
        predictor = slot.predictor
        if predictor is None:
            return JSONResponse({"detail": f"model is {slot.status}; see /readyz"}, status_code=503)
        refused = _refuse_size(request.headers.get("content-length"), settings.max_body_bytes)
        if refused is not None:
            return refused
        entity_ids = _entity_ids(await request.body(), predictor, settings.max_entities_per_request)
        try:
            predictions = predictor.predict(entity_ids)
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


_REQUEST_SCHEMA = PredictRequest.model_json_schema()


def _refuse_size(declared: str | None, max_body_bytes: int) -> JSONResponse | None:
    """Refuse a body of unknown or too large a size before reading it (HTTP framing holds it to what it declares)."""
    if declared is None or not declared.isdigit():
        return JSONResponse({"detail": "send the body with a Content-Length"}, status_code=411)
    if int(declared) > max_body_bytes:
        return JSONResponse(
            {"detail": f"body of {declared} bytes is over the {max_body_bytes}-byte limit"}, status_code=413
        )
    return None


def _entity_ids(body: bytes, predictor: Predictor, max_entities: int) -> list[EntityId]:
    """The request's entity ids, checked in order of cost: JSON, shape, count, then each id until the first bad one.

    Only the first problem is answered (FastAPI's 422 format), so a huge bad
    request costs one error, not one per element, and its answer stays small.
    """
    try:
        document = from_json(body)
    except ValueError:
        _refuse("json_invalid", ("body",), "the body is not valid JSON")
    if not isinstance(document, dict) or set(document) != {"entity_ids"}:
        _refuse("model_attributes_type", ("body",), 'the body must be {"entity_ids": [...]} and nothing else')
    entity_ids = document["entity_ids"]
    if not isinstance(entity_ids, list) or not entity_ids:
        _refuse("list_type", ("body", "entity_ids"), "entity_ids must be a non-empty list")
    if len(entity_ids) > max_entities:
        _refuse("too_long", ("body", "entity_ids"), f"at most {max_entities} entity ids per request")
    key_type = predictor.features.key_type
    for position, entity_id in enumerate(entity_ids):
        if type(entity_id) is not key_type:  # bool is an int subclass, and never an id
            _refuse(
                "entity_id_type",
                ("body", "entity_ids", position),
                f"{predictor.features.entity_key} values are of type {key_type.__name__}",
            )
    return entity_ids


def _refuse(kind: str, location: tuple[str | int, ...], message: str) -> NoReturn:
    raise RequestValidationError([{"type": kind, "loc": location, "msg": message}])


def _record_model_info(slot: PredictorSlot, settings: ModelServerSettings, metrics: ServingMetrics) -> None:
    if slot.status is LoadStatus.READY:
        metrics.model_info.labels(settings.model_name, settings.model_version, settings.model_run_id).set(1)
