"""Configured default features, and configurations that can never load, on in-process servers.

These servers run in the test process (``TestClient`` runs the app's lifespan,
so the model loads in the background exactly as under uvicorn) against the
same real MLflow server and Feast store as the subprocess tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import xgboost as xgb
from fastapi.testclient import TestClient

from services.model_server.app import create_app
from services.model_server.settings import ModelServerSettings
from tests.services.serving_stack import FEATURES, ServingStack

UNKNOWN_ID = 31337
DEFAULTS = {"tenure_months": 12.0, "monthly_charges": 55.5, "support_tickets": 0.0, "avg_session_minutes": 20.0}


def settings_for(stack: ServingStack, **overrides: Any) -> ModelServerSettings:
    values: dict[str, Any] = {name.lower(): value for name, value in stack.environment().items()}
    return ModelServerSettings(**{**values, **overrides})


@contextmanager
def started(settings: ModelServerSettings) -> Iterator[TestClient]:
    """A client of a started app, once its background load has finished one way or the other."""
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 180
        while client.get("/readyz").json()["status"] == "loading":
            assert time.monotonic() < deadline, "the model neither loaded nor failed"
            time.sleep(0.2)
        yield client


def test_default_features_stand_in_for_an_unknown_entity(serving_stack: ServingStack) -> None:
    known = serving_stack.entity_ids(1)[0]

    with started(settings_for(serving_stack, default_feature_values=DEFAULTS)) as client:
        response = client.post("/predict", json={"entity_ids": [known, UNKNOWN_ID]})

    assert response.status_code == 200, response.text
    by_id = {p["entity_id"]: p for p in response.json()["predictions"]}
    rows = pd.DataFrame([serving_stack.features.loc[known, list(FEATURES)].to_dict(), DEFAULTS])[list(FEATURES)]
    rows = rows.astype(serving_stack.features.dtypes.to_dict())
    expected = serving_stack.booster().predict(xgb.DMatrix(rows))
    assert [by_id[known]["prediction"], by_id[UNKNOWN_ID]["prediction"]] == [float(value) for value in expected]
    assert (by_id[known]["used_default_features"], by_id[UNKNOWN_ID]["used_default_features"]) == (False, True)
    assert 'model_server_missing_entities_total{outcome="defaulted"} 1.0' in client.get("/metrics").text


def test_defaults_for_only_some_features_still_refuse_the_entity(serving_stack: ServingStack) -> None:
    with started(settings_for(serving_stack, default_feature_values={"support_tickets": 0.0})) as client:
        response = client.post("/predict", json={"entity_ids": [UNKNOWN_ID]})

    assert response.status_code == 404
    assert response.json()["missing_entity_ids"] == [UNKNOWN_ID]


def test_a_model_version_that_does_not_exist_never_turns_ready(serving_stack: ServingStack) -> None:
    missing_uri = f"models:/{serving_stack.model_name}/999"

    with started(settings_for(serving_stack, model_version="999", model_uri=missing_uri)) as client:
        ready = client.get("/readyz")
        alive = client.get("/healthz")
        predict = client.post("/predict", json={"entity_ids": serving_stack.entity_ids(1)})

    assert ready.status_code == 503
    assert ready.json()["status"] == "failed"
    assert missing_uri in ready.json()["reason"]
    assert alive.status_code == 200
    assert predict.status_code == 503


def test_a_feature_service_that_does_not_exist_never_turns_ready(serving_stack: ServingStack) -> None:
    with started(settings_for(serving_stack, feast_feature_service="no_such_service")) as client:
        ready = client.get("/readyz").json()

    assert ready["status"] == "failed"
    assert "no_such_service" in ready["reason"]
    assert "FEAST_FEATURE_SERVICE" in ready["reason"]


def test_defaults_naming_a_feature_the_model_does_not_use_are_refused(serving_stack: ServingStack) -> None:
    with started(settings_for(serving_stack, default_feature_values={"tenure": 1.0})) as client:
        ready = client.get("/readyz").json()

    assert ready["status"] == "failed"
    assert "tenure" in ready["reason"]
