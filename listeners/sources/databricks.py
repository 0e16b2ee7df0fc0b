"""Databricks workspace model-registry webhooks (``X-Databricks-Signature``).

Databricks, unlike MLflow OSS, reports stage transitions itself, with both
stages. A webhook subscribed to several transition events receives the same
transition more than once (``..._TRANSITIONED_STAGE`` and
``..._TRANSITIONED_TO_PRODUCTION``), so the idempotency key names the
transition, not the event kind: one transition, one event. The signed
``event_timestamp`` must be within the timestamp tolerance, as MLflow's and
Standard Webhooks' signed timestamps are. Every part of
the key (model, version, target stage, ``event_timestamp``) comes from the
signed body.
"""

from __future__ import annotations

from core.identifiers import ModelName
from listeners.sources.base import Delivery, Headers, Ignored, ParseResult, Source
from listeners.sources.keyring import Credential, Keyring
from listeners.sources.model_event import model_event
from listeners.sources.payload import SenderModel, load_json
from listeners.sources.signing import hex_body_hmac, hex_signature
from triggers.event import EventType, ModelChange

TRANSITIONS = frozenset(
    {
        "MODEL_VERSION_TRANSITIONED_STAGE",
        "MODEL_VERSION_TRANSITIONED_TO_STAGING",
        "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
        "MODEL_VERSION_TRANSITIONED_TO_ARCHIVED",
    }
)


class _Notice(SenderModel):
    event: str
    webhook_id: str = ""
    event_timestamp: int
    model_name: ModelName
    version: str
    from_stage: str | None = None
    to_stage: str | None = None


def signature(headers: Headers) -> str:
    return hex_signature(headers, "x-databricks-signature")


class _Sent(SenderModel):
    event_timestamp: int


def verify(headers: Headers, body: bytes, keyring: Keyring) -> Credential:
    """The signature, then the signed ``event_timestamp`` (milliseconds): a captured delivery goes stale."""
    credential = hex_body_hmac(signature(headers), body, keyring)
    keyring.check_fresh(str(load_json(_Sent, body).event_timestamp // 1000))
    return credential


def parse(delivery: Delivery) -> ParseResult:
    notice = load_json(_Notice, delivery.body)
    model = notice.model_name
    if notice.event == "MODEL_VERSION_CREATED":
        change = ModelChange(registry="databricks", model_name=model, version=notice.version)
        return [model_event(EventType.MODEL_VERSION_CREATED, change, f"databricks:version:{model}:{notice.version}")]
    if notice.event in TRANSITIONS:
        change = ModelChange(
            registry="databricks",
            model_name=model,
            version=notice.version,
            from_stage=notice.from_stage,
            to_stage=notice.to_stage,
        )
        key = f"databricks:stage:{model}:{notice.version}:{notice.to_stage}:{notice.event_timestamp}"
        return [model_event(EventType.MODEL_STAGE_CHANGED, change, key)]
    return Ignored(f"databricks event {notice.event!r} starts nothing")


SOURCE = Source(name="databricks", verify=verify, parse=parse, check_headers=signature)
