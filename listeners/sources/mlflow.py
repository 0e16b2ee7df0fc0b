"""MLflow OSS model-registry webhooks (``X-MLflow-Signature: v1,<base64>``).

MLflow signs ``delivery_id.timestamp.body`` and the timestamp is checked, so
a captured delivery cannot be replayed later. Alias events name only the new
version; the previous one, and the key shared with the registry watcher, are
filled in from the alias table when the event is recorded
(:mod:`listeners.model_positions`).

What in the key is signed: a new version is keyed by model and version from
the signed body; alias and tag events by ``X-MLflow-Delivery-Id``, which the
signature covers together with the timestamp and the body.
"""

from __future__ import annotations

from typing import Any

from core.identifiers import ModelName
from listeners.sources.base import Delivery, Headers, Ignored, ParseResult, Source, header
from listeners.sources.keyring import Credential, Keyring
from listeners.sources.model_event import model_event
from listeners.sources.payload import SenderModel, load_json, validate
from listeners.sources.signing import required_signature, timestamped_v1, v1_entries
from triggers.event import EventType, ModelChange


class _Envelope(SenderModel):
    entity: str
    action: str
    data: dict[str, Any]


class _VersionCreated(SenderModel):
    name: ModelName
    version: str
    source: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = {}


class _AliasChange(SenderModel):
    name: ModelName
    alias: str
    version: str | None = None


class _TagSet(SenderModel):
    name: ModelName
    version: str
    key: str
    value: str


def check_headers(headers: Headers) -> None:
    v1_entries(required_signature(headers, "x-mlflow-signature"), "x-mlflow-signature")
    header(headers, "x-mlflow-delivery-id")
    header(headers, "x-mlflow-timestamp")


def verify(headers: Headers, body: bytes, keyring: Keyring) -> Credential:
    signatures = required_signature(headers, "x-mlflow-signature")
    return timestamped_v1(
        message_id=header(headers, "x-mlflow-delivery-id"),
        timestamp=header(headers, "x-mlflow-timestamp"),
        signatures=signatures,
        body=body,
        keyring=keyring,
    )


def parse(delivery: Delivery) -> ParseResult:
    envelope = load_json(_Envelope, delivery.body)
    kind = f"{envelope.entity}.{envelope.action}"
    delivery_id = delivery.headers.get("x-mlflow-delivery-id")
    delivery_key = f"mlflow:delivery:{delivery_id}" if delivery_id else delivery.fallback_key
    if kind == "model_version.created":
        created = validate(_VersionCreated, envelope.data, "data")
        change = ModelChange(
            model_name=created.name,
            version=created.version,
            source=created.source,
            run_id=created.run_id,
            tags=created.tags,
        )
        return [
            model_event(EventType.MODEL_VERSION_CREATED, change, f"mlflow:version:{created.name}:{created.version}")
        ]
    if kind in ("model_version_alias.created", "model_version_alias.deleted"):
        moved = validate(_AliasChange, envelope.data, "data")
        deleted = envelope.action == "deleted"
        change = ModelChange(model_name=moved.name, alias=moved.alias, version=None if deleted else moved.version)
        kind_type = EventType.MODEL_ALIAS_DELETED if deleted else EventType.MODEL_ALIAS_CHANGED
        return [model_event(kind_type, change, delivery_key)]
    if kind == "model_version_tag.set":
        tag = validate(_TagSet, envelope.data, "data")
        change = ModelChange(model_name=tag.name, version=tag.version, tags={tag.key: tag.value})
        return [model_event(EventType.MODEL_TAG_SET, change, delivery_key)]
    return Ignored(f"mlflow event {kind!r} starts nothing")


SOURCE = Source(name="mlflow", verify=verify, parse=parse, check_headers=check_headers)
