"""The model server against a real MLflow server and a real Feast sqlite online store.

The reference for every prediction is the registered booster loaded natively
in the test process and applied to the rows the online store was materialized
from, so a wrong feature order, dtype or lookup shows up as a different number.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import numpy as np
import pytest
import xgboost as xgb
from prometheus_client.parser import text_string_to_metric_families

from tests.services.conftest import REPO_ROOT, RunningServer
from tests.services.serving_stack import ENTITY_KEY, FEATURES, ServingStack

UNKNOWN_IDS = [1, 424242]


def _predict(server: RunningServer, body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/predict", json=body, timeout=30)


def _reference(stack: ServingStack, entity_ids: list[int]) -> list[float]:
    rows = stack.features.loc[entity_ids, list(FEATURES)].reset_index(drop=True)
    return [float(value) for value in stack.booster().predict(xgb.DMatrix(rows))]


def _metric_samples(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{server.url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_predictions_equal_the_models_own_on_the_same_features(
    model_server: RunningServer, serving_stack: ServingStack
) -> None:
    entity_ids = serving_stack.entity_ids(60)[::-1]

    response = _predict(model_server, {"entity_ids": entity_ids})

    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["entity_id"] for p in body["predictions"]] == entity_ids
    assert [p["prediction"] for p in body["predictions"]] == _reference(serving_stack, entity_ids)
    assert not any(p["used_default_features"] for p in body["predictions"])
    assert len(set(_reference(serving_stack, entity_ids))) > 10, "a model that discriminates makes the check meaningful"


def test_response_names_the_model_version_that_answered(
    model_server: RunningServer, serving_stack: ServingStack
) -> None:
    body = _predict(model_server, {"entity_ids": serving_stack.entity_ids(1)}).json()

    assert body["model_name"] == serving_stack.model_name
    assert body["model_version"] == serving_stack.model_version
    assert body["model_uri"] == serving_stack.model_uri
    assert body["model_run_id"] == serving_stack.run_id
    assert body["entity_key"] == ENTITY_KEY


def test_probes(model_server: RunningServer, serving_stack: ServingStack) -> None:
    assert httpx.get(f"{model_server.url}/healthz").json() == {"status": "alive"}
    ready = httpx.get(f"{model_server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["model_version"] == serving_stack.model_version


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"entity_ids": []},
        {"entity_ids": 5000},
        {"entity_ids": ["5000"]},
        {"entity_ids": [5000.5]},
        {"entity_ids": [True]},
        {"entity_ids": [None]},
        {"entity_ids": [5000], "model_version": "1"},
        [5000],
    ],
    ids=["empty", "no-ids", "not-a-list", "string-for-int-key", "float", "bool", "null", "extra-field", "bare-list"],
)
def test_malformed_requests_get_422(model_server: RunningServer, body: Any) -> None:
    response = _predict(model_server, body)

    assert response.status_code == 422, response.text
    assert response.json()["detail"], "the 422 must say what was wrong"


def test_non_json_body_gets_422(model_server: RunningServer) -> None:
    response = httpx.post(
        f"{model_server.url}/predict", content=b"entity_ids=5000", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422


def test_unknown_entities_are_refused_naming_them(model_server: RunningServer, serving_stack: ServingStack) -> None:
    known = serving_stack.entity_ids(1)

    response = _predict(model_server, {"entity_ids": [UNKNOWN_IDS[0], *known, UNKNOWN_IDS[1]]})

    assert response.status_code == 404
    body = response.json()
    assert body["missing_entity_ids"] == UNKNOWN_IDS
    assert body["entity_key"] == ENTITY_KEY
    assert "424242" in body["message"]


def test_metrics_count_requests_latency_lookups_and_missing_entities(
    model_server: RunningServer, serving_stack: ServingStack
) -> None:
    before = _metric_samples(model_server)
    for _ in range(3):
        assert _predict(model_server, {"entity_ids": serving_stack.entity_ids(2)}).status_code == 200
    assert _predict(model_server, {"entity_ids": UNKNOWN_IDS}).status_code == 404
    after = _metric_samples(model_server)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("model_server_requests_total", method="POST", route="/predict", status="200") == 3
    assert grew("model_server_requests_total", method="POST", route="/predict", status="404") == 1
    assert grew("model_server_request_latency_seconds_count", route="/predict") == 4
    assert grew("model_server_feature_lookup_latency_seconds_count") == 4
    assert grew("model_server_missing_entities_total", outcome="rejected") == len(UNKNOWN_IDS)
    info_labels = {
        "model_name": serving_stack.model_name,
        "model_version": serving_stack.model_version,
        "run_id": serving_stack.run_id,
    }
    assert after[("model_server_model_info", tuple(sorted(info_labels.items())))] == 1


def test_missing_configuration_exits_with_one_line_per_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.model_server"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "MODEL_NAME": "account-risk"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    for variable in ("MODEL_VERSION", "MODEL_URI", "MLFLOW_TRACKING_URI", "FEAST_REPO_PATH", "ENTITY_KEY"):
        assert any(variable in line for line in lines), result.stderr
    assert not any("MODEL_NAME" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_reference_differs_from_a_shuffled_feature_order(serving_stack: ServingStack) -> None:
    """Guards the equality test: feeding the booster misordered columns must change its answers."""
    entity_ids = serving_stack.entity_ids(30)
    rows = serving_stack.features.loc[entity_ids, list(reversed(FEATURES))].reset_index(drop=True)
    rows.columns = list(FEATURES)

    shuffled = serving_stack.booster().predict(xgb.DMatrix(rows))

    assert not np.array_equal(shuffled, np.asarray(_reference(serving_stack, entity_ids), dtype=np.float32))


def test_oversized_or_overlong_requests_are_refused_small_and_first(model_server: RunningServer) -> None:
    many_ids = json.dumps({"entity_ids": list(range(400_000))}).encode()
    assert len(many_ids) > 2_500_000
    too_big = httpx.post(f"{model_server.url}/predict", content=many_ids, headers={"content-type": "application/json"})
    assert too_big.status_code == 413 and len(too_big.content) < 1024

    over_count = _predict(model_server, {"entity_ids": list(range(1001))})
    assert over_count.status_code == 422 and len(over_count.content) < 1024
    assert "at most 1000" in over_count.text

    all_bad = _predict(model_server, {"entity_ids": [str(n) for n in range(900)]})
    assert all_bad.status_code == 422 and len(all_bad.content) < 1024
    [first] = all_bad.json()["detail"]
    assert first["loc"] == ["body", "entity_ids", 0], "stops at the first bad element"

    chunked = httpx.post(
        f"{model_server.url}/predict",
        content=iter([b'{"entity_ids": [', b"5000]}"]),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 411
