"""Data notices (S3/MinIO, CloudEvents, plain JSON) and registry webhooks (Databricks, MLflow) through the app."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devtools.devstack.senders import databricks_headers, mlflow_headers, standard_webhooks_headers
from tests.listeners.conftest import DATA_WHSEC, DATABRICKS_SECRET, MINIO_TOKEN, MLFLOW_SECRET
from triggers.event import DataArrival, Event, EventType, ModelChange
from triggers.ledger import Ledger


def minio_notification(key: str, sequencer: str, event_name: str = "s3:ObjectCreated:Put") -> dict[str, Any]:
    return {
        "EventName": event_name,
        "Key": f"raw/{key}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "eventName": event_name.removeprefix("s3:"),
                "eventTime": "2026-11-26T09:00:00.000Z",
                "s3": {
                    "bucket": {"name": "raw"},
                    "object": {
                        "key": key,
                        "size": 2048,
                        "eTag": "0f343b0931126a20f133d67c2b018a3b",
                        "sequencer": sequencer,
                    },
                },
            }
        ],
    }


def stored(ledger: Ledger, answer_json: dict[str, Any]) -> list[Event]:
    events = []
    for event_id in answer_json["event_ids"]:
        record = ledger.reads.get(event_id)
        assert record is not None
        events.append(record.event)
    return events


def test_minio_notification_with_bearer_token_names_dataset_and_partition(client: TestClient, ledger: Ledger) -> None:
    body = json.dumps(minio_notification("churn/events/date%3D2026-11-26/part+0.parquet", "17A1B")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {MINIO_TOKEN}"}
    answer = client.post("/webhooks/data", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    [event] = stored(ledger, answer.json())
    assert event.type is EventType.DATA_ARRIVED
    assert isinstance(event.data, DataArrival)
    assert (event.data.dataset, event.data.partition) == ("raw/churn/events", "date=2026-11-26")
    assert event.data.key == "churn/events/date=2026-11-26/part 0.parquet"
    assert (event.data.size, event.data.notice_format) == (2048, "s3")
    again = client.post("/webhooks/data", content=body, headers=headers)
    assert again.json()["duplicate"] is True


def test_object_removal_records_nothing(client: TestClient, ledger: Ledger) -> None:
    body = json.dumps(minio_notification("churn/events/x.parquet", "1", "s3:ObjectRemoved:Delete")).encode()
    answer = client.post(
        "/webhooks/data",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {MINIO_TOKEN}"},
    )
    assert answer.status_code == 200
    assert ledger.reads.count_by_state() == {}


def test_structured_cloudevent_signed_with_standard_webhooks(client: TestClient, ledger: Ledger) -> None:
    cloudevent = {
        "specversion": "1.0",
        "id": "evt-42",
        "source": "urn:lake:ingest",
        "type": "com.example.partition.closed",
        "subject": "sales/daily",
        "time": "2026-11-26T08:00:00Z",
        "datacontenttype": "application/json",
        "data": {"uri": "s3://lake/sales/daily/date=2026-11-25/", "partition": "date=2026-11-25"},
    }
    body = json.dumps(cloudevent).encode()
    headers = standard_webhooks_headers(body, DATA_WHSEC, content_type="application/cloudevents+json")
    answer = client.post("/webhooks/data", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    [event] = stored(ledger, answer.json())
    assert isinstance(event.data, DataArrival)
    assert (event.data.dataset, event.data.partition, event.data.notice_format) == (
        "sales/daily",
        "date=2026-11-25",
        "cloudevents",
    )
    assert event.idempotency_key == "cloudevents:urn:lake:ingest:evt-42"
    assert event.time.isoformat() == "2026-11-26T08:00:00+00:00"


def test_binary_cloudevent_over_http(client: TestClient, ledger: Ledger) -> None:
    body = json.dumps({"dataset": "sales/daily", "partition": "date=2026-11-26"}).encode()
    headers = {
        **standard_webhooks_headers(body, DATA_WHSEC),
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "urn:lake",
        "ce-type": "data.arrived",
    }
    answer = client.post("/webhooks/data", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    [event] = stored(ledger, answer.json())
    assert event.idempotency_key == f"webhook:{headers['webhook-id']}", "the ce-* headers are not signed"

    replayed = client.post("/webhooks/data", content=body, headers={**headers, "ce-id": "b-2"})
    assert replayed.status_code == 200 and replayed.json()["duplicate"] is True


def test_webhook_id_is_a_key_only_when_signed(client: TestClient, ledger: Ledger) -> None:
    body = json.dumps({"dataset": "sales/daily", "partition": "date=2026-11-27"}).encode()
    bearer = {"Content-Type": "application/json", "Authorization": f"Bearer {MINIO_TOKEN}"}
    first = client.post("/webhooks/data", content=body, headers={**bearer, "webhook-id": "msg-1"})
    assert first.status_code == 202, first.text
    again = client.post("/webhooks/data", content=body, headers={**bearer, "webhook-id": "msg-2"})
    assert again.status_code == 200 and again.json()["duplicate"] is True


def test_data_notice_without_dataset_is_422(client: TestClient) -> None:
    body = json.dumps({"id": "n-1", "uri": "s3://lake/x"}).encode()
    answer = client.post("/webhooks/data", content=body, headers=standard_webhooks_headers(body, DATA_WHSEC))
    assert answer.status_code == 422
    assert "'dataset'" in answer.json()["detail"]


def test_databricks_transition_reported_twice_is_one_event(client: TestClient, ledger: Ledger) -> None:
    common = {
        "webhook_id": "wh-1",
        "event_timestamp": int(time.time() * 1000),
        "model_name": "churn",
        "version": "3",
        "from_stage": "Staging",
        "to_stage": "Production",
        "text": "",
    }
    answers = []
    for kind in ("MODEL_VERSION_TRANSITIONED_STAGE", "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"):
        body = json.dumps({"event": kind, **common}).encode()
        answers.append(
            client.post("/webhooks/databricks", content=body, headers=databricks_headers(body, DATABRICKS_SECRET))
        )
    assert [a.status_code for a in answers] == [202, 200]
    [event] = stored(ledger, answers[0].json())
    assert isinstance(event.data, ModelChange)
    assert (event.data.registry, event.data.from_stage, event.data.to_stage) == ("databricks", "Staging", "Production")


def _mlflow_alias(client: TestClient, action: str, version: str | None) -> Any:
    data = {"name": "churn", "alias": "champion", **({"version": version} if version else {})}
    body = json.dumps(
        {"entity": "model_version_alias", "action": action, "timestamp": "2026-11-26T09:00:00+00:00", "data": data}
    ).encode()
    return client.post("/webhooks/mlflow", content=body, headers=mlflow_headers(body, MLFLOW_SECRET))


def test_mlflow_alias_moves_carry_the_previous_version_and_a_rollback_is_news(
    client: TestClient, ledger: Ledger
) -> None:
    moves = [("created", "1"), ("created", "2"), ("created", "2"), ("created", "1"), ("deleted", None)]
    answers = [_mlflow_alias(client, action, version) for action, version in moves]
    assert [a.status_code for a in answers] == [202, 202, 200, 202, 202]
    changes = [stored(ledger, answers[i].json())[0] for i in (0, 1, 3, 4)]
    seen = []
    for event in changes:
        assert isinstance(event.data, ModelChange)
        seen.append((event.type, event.data.version, event.data.previous_version))
    assert seen == [
        (EventType.MODEL_ALIAS_CHANGED, "1", None),
        (EventType.MODEL_ALIAS_CHANGED, "2", "1"),
        (EventType.MODEL_ALIAS_CHANGED, "1", "2"),
        (EventType.MODEL_ALIAS_DELETED, None, "1"),
    ]
    assert changes[1].idempotency_key == "mlflow:alias:churn:champion:2:2"


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("event_timestamp", 1262304000000, 401),  # 2010: a captured delivery, however well signed
        ("event_timestamp", "soon", 422),
        ("to_stage", "Production\n\nSigned-off-by: someone", 422),
        ("version", "3; rm -rf /", 422),
    ],
)
def test_databricks_deliveries_are_fresh_and_their_fields_fixed(
    client: TestClient, field: str, value: object, status: int
) -> None:
    notice = {
        "event": "MODEL_VERSION_TRANSITIONED_STAGE",
        "event_timestamp": int(time.time() * 1000),
        "model_name": "churn",
        "version": "4",
        "to_stage": "Production",
    }
    body = json.dumps({**notice, field: value}).encode()
    answer = client.post("/webhooks/databricks", content=body, headers=databricks_headers(body, DATABRICKS_SECRET))
    assert answer.status_code == status, answer.text
