"""Data-arrival notices: S3/MinIO bucket notifications, CloudEvents and plain JSON.

The same parser serves HTTP and Kafka. HTTP deliveries are authenticated by a
Standard Webhooks signature (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) or by MinIO's bearer token; Kafka records are trusted
through the broker's own SASL/TLS. The payload's own id (CloudEvents
``source``+``id``, the S3 ``sequencer``, a JSON ``id``) is the idempotency key
where there is one, so the same notice arriving twice is recorded once.

What in the key is signed: a Standard Webhooks signature covers
``webhook-id``, the timestamp and the body, so keys from the body or from
``webhook-id`` are signed; ``webhook-id`` is used only when that signature
was given (with MinIO's bearer token the header is anyone's to choose). A
binary-mode CloudEvent carries its id in ``ce-*`` headers, which no HTTP
signature covers: over a signed delivery its key is the signed ``webhook-id``
(the same on the sender's retries), over Kafka the ``ce-*`` pair. Without an
id of its own, a notice is keyed by the hash of its body over HTTP and by its
topic, partition and offset over Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from cloudevents.core.bindings import http as cloudevents_http
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from core.identifiers import DatasetKey
from listeners.rejections import InvalidError, UnauthorizedError
from listeners.sources.base import Delivery, Headers, Ignored, ParseResult, Source, header
from listeners.sources.keyring import Credential, Keyring
from listeners.sources.payload import SenderModel, load_object, validate
from listeners.sources.signing import shared_token, timestamped_v1, v1_entries
from listeners.standard_webhooks import signing_key
from triggers.event import Event, EventType

NoticeFormat = Literal["s3", "cloudevents", "json"]
_REQUIRED_CE_HEADERS = ("ce-specversion", "ce-id", "ce-source", "ce-type")
_S3_TEST_EVENT = "s3:TestEvent"
"""What S3 sends once when a notification is configured: no ``Records``, nothing to record."""
_DATASET = TypeAdapter(DatasetKey, config=ConfigDict(regex_engine="python-re"))
_BEARER = "Bearer "


class _Notice(SenderModel):
    """A dataset notice in plain JSON, or the ``data`` of a CloudEvent."""

    id: str | None = None
    dataset: DatasetKey | None = None
    uri: str = ""
    bucket: str = ""
    key: str = ""
    partition: str = ""
    size: int | None = None
    etag: str = ""


class _CloudEvent(SenderModel):
    specversion: str = Field(pattern=r"^1\.")
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: datetime | None = None
    data: Any = None


class _S3Object(SenderModel):
    key: str
    size: int | None = None
    eTag: str = ""  # noqa: N815 - the sender's field name
    sequencer: str = ""


class _S3Bucket(SenderModel):
    name: str


class _S3Entity(SenderModel):
    bucket: _S3Bucket
    object: _S3Object


class _S3Record(SenderModel):
    eventName: str  # noqa: N815
    eventTime: datetime | None = None  # noqa: N815
    s3: _S3Entity


class _S3Notification(SenderModel):
    Records: list[_S3Record]


def check_headers(headers: Headers) -> None:
    signatures = headers.get("webhook-signature")
    if signatures:
        v1_entries(signatures, "webhook-signature")
        header(headers, "webhook-id")
        header(headers, "webhook-timestamp")
    elif not headers.get("authorization", "").startswith(_BEARER) or not headers["authorization"][len(_BEARER) :]:
        raise UnauthorizedError("header 'webhook-signature' (or a bearer token) is missing")


def verify(headers: Headers, body: bytes, keyring: Keyring) -> Credential:
    signatures = headers.get("webhook-signature")
    if signatures:
        return timestamped_v1(
            message_id=header(headers, "webhook-id"),
            timestamp=header(headers, "webhook-timestamp"),
            signatures=signatures,
            body=body,
            keyring=keyring,
            key_of=_standard_webhooks_key,
        )
    authorization = headers.get("authorization", "")
    if authorization.startswith(_BEARER):
        return shared_token(authorization[len(_BEARER) :], keyring)
    raise UnauthorizedError("header 'webhook-signature' (or a bearer token) is missing")


def parse(delivery: Delivery) -> ParseResult:
    headers = delivery.headers
    if "ce-specversion" in headers:
        cloudevent = _binary_cloudevent(delivery)
        return _from_cloudevent(cloudevent, _signed_id_key(headers) or _cloudevent_key(cloudevent))
    document = load_object(delivery.body)
    if "specversion" in document:
        cloudevent = validate(_CloudEvent, document)
        return _from_cloudevent(cloudevent, _cloudevent_key(cloudevent))
    if "Records" in document:
        return _from_s3(validate(_S3Notification, document), delivery.fallback_key)
    if document.get("Event") == _S3_TEST_EVENT:
        return Ignored("s3:TestEvent: the bucket notification is configured; nothing arrived")
    notice = validate(_Notice, document)
    key = f"json:{notice.id}" if notice.id else _signed_id_key(headers) or delivery.fallback_key
    return [_arrival(notice, key, notice_format="json", source="data")]


def _binary_cloudevent(delivery: Delivery) -> _CloudEvent:
    """A binary-mode CloudEvent: attributes from the ``ce-*`` headers, the body as its data.

    The ``cloudevents`` SDK reads the headers (percent-decoding and the ``time``
    format as the HTTP binding specifies, the spec's attribute rules); the body
    goes through this service's own bounded JSON parser instead of the SDK's
    ``json.loads``, which has no depth limit. A missing required header is
    refused first, because the SDK would make up an ``id`` (and so a new
    idempotency key) for an event without one. Structured-mode documents are
    validated by ``_CloudEvent`` directly: they are already parsed, and the SDK's
    constructor would fill a missing ``id`` the same way.
    """
    ce_headers = {name: value for name, value in delivery.headers.items() if name.startswith("ce-")}
    for required in _REQUIRED_CE_HEADERS:
        header(ce_headers, required)
    try:
        attributes = cloudevents_http.from_binary(
            cloudevents_http.HTTPMessage(headers=ce_headers, body=b""), JSONFormat()
        ).get_attributes()
    except (BaseCloudEventException, ValueError, OverflowError) as e:
        raise InvalidError(f"the ce- headers are not a valid CloudEvent: {e}") from None
    return validate(_CloudEvent, {**attributes, "data": load_object(delivery.body)}, "ce- headers")


def _cloudevent_key(cloudevent: _CloudEvent) -> str:
    return f"cloudevents:{cloudevent.source}:{cloudevent.id}"


def _from_cloudevent(cloudevent: _CloudEvent, key: str) -> ParseResult:
    if isinstance(cloudevent.data, dict) and "Records" in cloudevent.data:
        return _from_s3(validate(_S3Notification, cloudevent.data, "data"), key)
    notice = validate(_Notice, cloudevent.data if isinstance(cloudevent.data, dict) else {}, "data")
    if notice.dataset is None:
        notice = notice.model_copy(update={"dataset": _dataset_or_invalid(cloudevent.subject, "subject")})
    event = _arrival(notice, key, notice_format="cloudevents", source=cloudevent.source)
    return [event.model_copy(update={"time": cloudevent.time})] if cloudevent.time else [event]


def _from_s3(notification: _S3Notification, fallback_key: str) -> ParseResult:
    events: list[Event] = []
    for index, record in enumerate(notification.Records):
        if not record.eventName.startswith(("s3:ObjectCreated:", "ObjectCreated:")):
            continue
        bucket, key = record.s3.bucket.name, unquote_plus(record.s3.object.key)
        dataset, partition = _split_object_key(bucket, key)
        notice = _Notice(
            dataset=dataset,
            uri=f"s3://{bucket}/{key}",
            bucket=bucket,
            key=key,
            partition=partition,
            size=record.s3.object.size,
            etag=record.s3.object.eTag,
        )
        sequencer = record.s3.object.sequencer
        idempotency = f"s3:{bucket}:{key}:{sequencer}" if sequencer else f"{fallback_key}:{index}"
        event = _arrival(notice, idempotency, notice_format="s3", source=f"s3/{bucket}")
        events.append(event.model_copy(update={"time": record.eventTime}) if record.eventTime else event)
    return events or Ignored("no ObjectCreated record in the notification")


def _split_object_key(bucket: str, key: str) -> tuple[str, str]:
    """``raw`` + ``churn/events/date=2026-11-26/part-0.parquet`` -> (``raw/churn/events``, ``date=2026-11-26``)."""
    folders = key.split("/")[:-1]
    partition = [f for f in folders if "=" in f]
    dataset = "/".join([bucket, *(f for f in folders if "=" not in f)])
    return _dataset_or_invalid(dataset, "Records.s3.object.key"), "/".join(partition)


def _dataset_or_invalid(value: str | None, field: str) -> str:
    if not value:
        raise InvalidError(f"field {field!r} is missing: a notice must name its dataset")
    try:
        return _DATASET.validate_python(value)
    except ValidationError:
        raise InvalidError(f"field {field!r} does not name a dataset (letters, digits, '_.=-' and '/')") from None


def _arrival(notice: _Notice, key: str, *, notice_format: NoticeFormat, source: str) -> Event:
    """The event for a notice whose fields are already validated (the dataset by its allow-list type).

    The payload goes in as a plain dict, so pydantic builds the event and its
    payload in one validation instead of one per model (Kafka ingest makes one per record).
    """
    if notice.dataset is None:
        raise InvalidError("field 'dataset' is missing: a notice must name its dataset")
    data = {
        "kind": "data",
        "dataset": notice.dataset,
        "uri": notice.uri,
        "bucket": notice.bucket,
        "key": notice.key,
        "partition": notice.partition,
        "size": notice.size,
        "etag": notice.etag,
        "notice_format": notice_format,
    }
    return Event.model_validate(
        {
            "source": source,
            "type": EventType.DATA_ARRIVED,
            "subject": notice.dataset,
            "data": data,
            "idempotency_key": key,
        }
    )


def _signed_id_key(headers: Headers) -> str | None:
    """``webhook-id`` as a key, when a Standard Webhooks signature covered it (``verify`` checks it when present)."""
    message_id = headers.get("webhook-id")
    return f"webhook:{message_id}" if message_id and headers.get("webhook-signature") else None


def _standard_webhooks_key(secret: bytes) -> bytes:
    """The key of a configured secret; the settings refused at start any ``whsec_`` secret that does not decode."""
    return signing_key(secret.decode())


SOURCE = Source(
    name="data",
    verify=verify,
    parse=parse,
    content_types=frozenset({"application/json", "application/cloudevents+json"}),
    check_headers=check_headers,
)
