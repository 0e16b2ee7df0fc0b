"""The model server loads only the registry's URIs, or artifact URIs on hosts the operator lists.

``pyfunc.load_model`` can run code from what it loads, so a GitOps commit (or a
ConfigMap edit) naming any other location must stop the server at start.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gitops.promotion import PromotionRequest
from services.model_server.settings import ModelServerSettings


def settings(model_uri: str, **extra: object) -> ModelServerSettings:
    return ModelServerSettings(
        model_name="churn-xgb",
        model_version="3",
        model_uri=model_uri,
        mlflow_tracking_uri="http://127.0.0.1:5000",
        feast_repo_path=Path("feature_repo"),
        feast_feature_service="churn",
        entity_key="customer_id",
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("uri", ["models:/churn-xgb/3", "models:/churn-xgb@champion"])
def test_registry_uris_are_served(uri: str) -> None:
    assert settings(uri).model_uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/" + "a" * 32 + "/../../model",
        "runs:/" + "a" * 32 + "/model",
        "file:///etc/model",
        "mlflow-artifacts://attacker.example/model",
        "s3://any-bucket/model",
        "s3://artifacts/models/../../secrets",
        "models:/churn-xgb/3\n",
    ],
)
def test_anything_else_is_refused_at_start(uri: str) -> None:
    with pytest.raises(ValidationError, match="MODEL_URI must be"):
        settings(uri)
    with pytest.raises(ValidationError):
        PromotionRequest(
            model_name="churn-xgb", version="3", model_uri=uri, environment="staging", trigger_event_id="e"
        )


def test_artifact_uris_on_a_listed_host_are_served() -> None:
    allowed = ["artifacts.mlops.svc:5000", "ml-artifacts"]
    uri = "mlflow-artifacts://artifacts.mlops.svc:5000/1/abc/artifacts/model"
    assert settings(uri, allowed_artifact_hosts=allowed).model_uri == uri
    assert settings("s3://ml-artifacts/churn/3", allowed_artifact_hosts=allowed).model_uri.startswith("s3://")
    with pytest.raises(ValidationError):
        settings("s3://ml-artifacts/churn/../../x", allowed_artifact_hosts=allowed)
