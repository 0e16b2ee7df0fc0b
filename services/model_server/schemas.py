"""The HTTP contract of the model server: what a client sends and gets back.

Every response names the model version that produced it, so a client (or an
audit) can tie a prediction to the GitOps commit that deployed that version.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from .model import PredictionValue


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_ids: list[StrictInt | StrictStr] = Field(
        min_length=1, description="Values of the configured entity join key, e.g. customer ids."
    )


class EntityPrediction(BaseModel):
    entity_id: int | str
    prediction: PredictionValue
    used_default_features: bool = Field(description="True when configured defaults replaced missing features.")


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    model_uri: str
    model_run_id: str
    entity_key: str
    predictions: list[EntityPrediction]


class UnknownEntities(BaseModel):
    message: str
    entity_key: str
    missing_entity_ids: list[int | str]


class Readiness(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    status: str = Field(description="loading, ready or failed")
    model_name: str
    model_version: str
    reason: str = ""
