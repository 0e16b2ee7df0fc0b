"""The model server's configuration, read once from the environment at start-up.

The GitOps template's ConfigMap feeds these variables to the container with
``envFrom``, so the names are unprefixed and fixed: they are the contract
between the manifests and this process. Nothing reads them at import time;
``ModelServerSettings()`` is called by the entrypoint, which lets tests build
settings objects directly.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.identifiers import MODEL_URI_PATTERN, ModelName, artifact_uri_host


class ModelServerSettings(BaseSettings):
    """Which model version to serve and where its features live."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True, protected_namespaces=())

    model_name: ModelName
    model_version: str = Field(pattern=r"^[0-9]+$", max_length=20)
    model_uri: str = Field(
        description="models:/<name>/<version> (or @alias); an artifact store URI only on allowed_artifact_hosts."
    )
    allowed_artifact_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (or buckets) whose artifact URIs may be served directly, as a JSON list. Empty: only "
        "models:/ URIs, resolved by the registry.",
    )
    model_run_id: str = Field(default="", pattern=r"^[A-Za-z0-9_\-]*$", max_length=64)
    mlflow_tracking_uri: str = Field(min_length=1)
    feast_repo_path: Path
    feast_feature_service: str = Field(min_length=1)
    entity_key: str = Field(min_length=1, description="Join key of the entity the request's ids identify.")
    default_feature_values: dict[str, float] | None = Field(
        default=None,
        description=(
            "Values used in place of features the online store does not have for an entity, as a JSON object. "
            "Unset: a request naming an unknown entity is refused with the missing ids."
        ),
    )
    max_entities_per_request: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest /predict body; larger ones get 413 before being read."
    )

    @model_validator(mode="after")
    def _model_uri_is_allowed(self) -> ModelServerSettings:
        """``pyfunc.load_model`` can run code from what it loads, so only the registry or listed hosts are read."""
        if re.match(MODEL_URI_PATTERN, self.model_uri) and "\n" not in self.model_uri:
            return self
        host = artifact_uri_host(self.model_uri)
        if host is None or host not in self.allowed_artifact_hosts:
            raise ValueError(
                "MODEL_URI must be models:/<name>/<version> or models:/<name>@<alias>, or an artifact URI "
                "(s3, gs, wasbs, mlflow-artifacts) on a host listed in ALLOWED_ARTIFACT_HOSTS"
            )
        return self
