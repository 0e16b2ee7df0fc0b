"""The senders' own dialects, as their documentation and reference libraries produce them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
import standardwebhooks
from fastapi.testclient import TestClient
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from devtools.devstack.senders import github_headers
from listeners.http.app import create_app
from listeners.intake import Intake
from listeners.kafka.records import delivery_of
from listeners.rejections import TooLargeError
from listeners.settings import ListenerSettings
from listeners.sources import Ignored
from tests.listeners.conftest import GITHUB_SECRET, listener_settings
from tests.listeners.test_bad_input import push_body
from triggers.event import PushData
from triggers.ledger import Ledger

UNPADDED_WHSEC = "whsec_" + base64.b64encode(b"a 32-byte Standard Webhooks key!").decode().rstrip("=")
S3_TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-11-26T08:00:00.000Z",
    "Bucket": "landing",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YhByQOxWyBvJ/Ehb0xLNnKE4mPf1XQ=",
}


def with_data_secret(secret: str) -> ListenerSettings:
    settings = listener_settings()
    settings.webhooks.data.secrets = ListenerSettings.model_validate(
        {"webhooks": {"data": {"secrets": [secret]}}}
    ).webhooks.data.secrets
    return settings


def test_an_unpadded_standard_webhooks_secret_verifies_what_the_reference_library_signs(ledger: Ledger) -> None:
    assert not UNPADDED_WHSEC.endswith("=") and len(UNPADDED_WHSEC[6:]) % 4
    body = json.dumps({"id": "sw-1", "dataset": "lake/orders"})
    sent = datetime.now(UTC)
    signature = standardwebhooks.Webhook(UNPADDED_WHSEC).sign("msg_1", sent, body)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": signature,
    }
    with TestClient(create_app(with_data_secret(UNPADDED_WHSEC), ledger)) as client:
        answer = client.post("/webhooks/data", content=body.encode(), headers=headers)
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    "secret",
    ["whsec_" + base64.b64encode(b"too-short").decode(), "whsec_", "whsec_!!!!", "whsec_" + "A" * 10],
)
def test_a_standard_webhooks_secret_without_a_usable_key_is_refused_at_start(secret: str) -> None:
    with pytest.raises(ValidationError, match="whsec_"):
        ListenerSettings.model_validate({"webhooks": {"data": {"secrets": [secret]}}})


def test_github_form_encoded_push_is_read_from_its_payload_field(client: TestClient, ledger: Ledger) -> None:
    document = push_body()
    form = urlencode({"payload": document.decode()}).encode()
    headers = {**github_headers(form, GITHUB_SECRET), "Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post("/webhooks/github", content=form, headers=headers)
    assert answer.status_code == 202, answer.text
    record = ledger.reads.get(answer.json()["event_ids"][0])
    assert record is not None and isinstance(record.event.data, PushData)
    assert record.event.data.after == json.loads(document)["after"]

    json_headers = github_headers(document, GITHUB_SECRET)
    same_push = client.post("/webhooks/github", content=document, headers=json_headers)
    assert same_push.json()["duplicate"] is True, "the same push, whichever content type carried it"

    resigned = {**headers, "X-Hub-Signature-256": json_headers["X-Hub-Signature-256"]}
    assert client.post("/webhooks/github", content=form, headers=resigned).status_code == 401, "signed: the raw form"
    for bad_form in (b"payload=%7B&payload=%7B", b"other=1", b"%%%"):
        bad = {**github_headers(bad_form, GITHUB_SECRET), "Content-Type": "application/x-www-form-urlencoded"}
        assert client.post("/webhooks/github", content=bad_form, headers=bad).status_code == 400


def test_s3_test_event_is_acknowledged_and_records_nothing_over_http(client: TestClient, ledger: Ledger) -> None:
    body = json.dumps(S3_TEST_EVENT).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer minio-bearer-token"}
    answer = client.post("/webhooks/data", content=body, headers=headers)
    assert answer.status_code == 200 and "s3:TestEvent" in answer.json()["ignored"]
    assert ledger.reads.count_by_state() == {}


def test_s3_test_event_over_kafka_is_no_dead_letter(tmp_path: Path) -> None:
    """The consumer admits each record through ``delivery_of`` and the intake; a test event yields nothing."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    value = json.dumps(S3_TEST_EVENT).encode()
    record = ConsumerRecord("data-arrivals", 0, 0, 7, 0, 0, None, value, [], None, -1, len(value), -1)
    result = Intake(listener_settings(), ledger, channel="kafka").admit(delivery_of(record), trusted_transport=True)
    assert isinstance(result, Ignored)
    ledger.close()


def test_binary_cloudevent_headers_are_read_as_the_http_binding_says(client: TestClient, ledger: Ledger) -> None:
    body = json.dumps({"dataset": "sales/daily", "partition": "date=2026-11-28"}).encode()
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer minio-bearer-token",
        "ce-specversion": "1.0",
        "ce-id": "evt%2042",
        "ce-source": "urn:lake%3Aingest",
        "ce-type": "data.arrived",
        "ce-time": "2026-11-28T08:00:00Z",
    }
    answer = client.post("/webhooks/data", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    record = ledger.reads.get(answer.json()["event_ids"][0])
    assert record is not None
    assert record.event.idempotency_key == "cloudevents:urn:lake:ingest:evt 42", "percent-decoded"
    assert record.event.time.isoformat() == "2026-11-28T08:00:00+00:00"
    without_id = {name: value for name, value in headers.items() if name != "ce-id"}
    refused = client.post("/webhooks/data", content=body, headers=without_id)
    assert refused.status_code == 400 and "ce-id" in refused.json()["detail"]


def s3_notification(records: int) -> bytes:
    record = {
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": "landing"}, "object": {"key": "churn/events/date=2026-11-26/part.parquet"}},
    }
    listed = [
        {**record, "s3": {**record["s3"], "object": {"key": f"churn/events/p{n}.parquet"}}} for n in range(records)
    ]
    return json.dumps({"Records": listed}).encode()


def test_one_delivery_cannot_become_more_events_than_the_limit(client: TestClient, ledger: Ledger) -> None:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer minio-bearer-token"}
    refused = client.post("/webhooks/data", content=s3_notification(101), headers=headers)
    assert refused.status_code == 413
    assert "at most 100 per delivery" in refused.json()["detail"]
    assert ledger.reads.count_by_state() == {}
    assert client.post("/webhooks/data", content=s3_notification(100), headers=headers).status_code == 202

    record = ConsumerRecord("data-arrivals", 0, 0, 8, 0, 0, None, s3_notification(101), [], None, -1, -1, -1)
    with pytest.raises(TooLargeError, match="at most 100"):
        Intake(listener_settings(), ledger, channel="kafka").admit(delivery_of(record), trusted_transport=True)
