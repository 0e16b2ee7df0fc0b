"""The model server's configuration, read once from the environment at start-up.

The GitOps template's ConfigMap feeds these variables to the container with
``envFrom``, so the names are unprefixed and fixed: they are the contract
between the manifests and this process. Nothing reads them at import time;
``ModelServerSettings()`` is called by the entrypoint, which lets tests build
settings objects directly.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.identifiers import ModelName, ModelUri


class ModelServerSettings(BaseSettings):
    """Which model version to serve and where its features live."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True, protected_namespaces=())

    model_name: ModelName
    model_version: str = Field(pattern=r"^[0-9]+$", max_length=20)
    model_uri: ModelUri
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
