"""Bad input gets a clear 4xx naming what is wrong, is counted, and never leaks a secret."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from devtools.devstack.senders import gitea_headers, github_headers, gitlab_headers, mlflow_headers
from listeners.http.app import create_app
from listeners.settings import ListenerSettings
from tests.listeners.conftest import GITEA_SECRET, GITHUB_SECRET, GITLAB_TOKEN, MLFLOW_SECRET, listener_settings
from tests.listeners.serving import serve
from triggers.event import PushData
from triggers.ledger import Ledger

SHA_A, SHA_B = "a" * 40, "b" * 40


def push_body(repo: str = "ml-team/churn-model", **extra: Any) -> bytes:
    payload = {
        "ref": "refs/heads/main",
        "before": SHA_A,
        "after": SHA_B,
        "commits": [],
        "repository": {"full_name": repo},
        **extra,
    }
    return json.dumps(payload).encode()


def rejected(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "mlops_gitops_deliveries_rejected_total", {"channel": "http", "source": "github", "reason": reason}
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Content-Type": "application/json", "X-GitHub-Event": "push"}, "no signature"),
        ({**github_headers(push_body(), "wrong-secret")}, "wrong secret"),
        ({**github_headers(push_body(), GITHUB_SECRET), "X-Hub-Signature-256": "sha1=abc"}, "legacy scheme"),
        ({**github_headers(push_body(), GITHUB_SECRET), "X-Hub-Signature-256": "sha256=zz"}, "garbage"),
    ],
)
def test_github_signature_problems_are_401_and_counted(
    client: TestClient, ledger: Ledger, headers: dict[str, str], why: str
) -> None:
    before = rejected("unauthorized")
    answer = client.post("/webhooks/github", content=push_body(), headers=headers)
    assert answer.status_code == 401, why
    assert answer.json()["error"] == "unauthorized"
    assert rejected("unauthorized") == before + 1
    assert ledger.reads.count_by_state() == {}


def test_signature_over_a_different_body_is_401(client: TestClient) -> None:
    headers = github_headers(push_body(), GITHUB_SECRET)
    assert client.post("/webhooks/github", content=push_body(forced=True), headers=headers).status_code == 401


def test_wrong_gitlab_token_is_401(client: TestClient) -> None:
    answer = client.post("/webhooks/gitlab", content=b"{}", headers=gitlab_headers(GITLAB_TOKEN + "x"))
    assert answer.status_code == 401


def test_stale_mlflow_timestamp_is_401(client: TestClient) -> None:
    body = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"name": "churn", "version": "1", "source": "models:/m-1", "tags": {}},
        }
    ).encode()
    stale = mlflow_headers(body, MLFLOW_SECRET, timestamp=int(time.time()) - 301)
    answer = client.post("/webhooks/mlflow", content=body, headers=stale)
    assert answer.status_code == 401
    assert "300 s" in answer.json()["detail"]
    fresh = mlflow_headers(body, MLFLOW_SECRET)
    assert client.post("/webhooks/mlflow", content=body, headers=fresh).status_code == 202


def test_per_repository_secret_signs_only_for_its_repository(client: TestClient) -> None:
    private = push_body("team/private-model")
    assert (
        client.post(
            "/webhooks/github", content=private, headers=github_headers(private, "private-repo-secret")
        ).status_code
        == 202
    )
    assert (
        client.post("/webhooks/github", content=private, headers=github_headers(private, GITHUB_SECRET)).status_code
        == 401
    )
    for variant in ("Team/Private-Model", "TEAM/PRIVATE-MODEL"):
        recased = push_body(variant)
        refused = client.post("/webhooks/github", content=recased, headers=github_headers(recased, GITHUB_SECRET))
        assert refused.status_code == 401, f"{variant}: the source-wide secret signs for the same repository"
        owned = client.post("/webhooks/github", content=recased, headers=github_headers(recased, "private-repo-secret"))
        assert owned.status_code == 202, variant
    public = push_body("ml-team/other")
    answer = client.post("/webhooks/github", content=public, headers=github_headers(public, "private-repo-secret"))
    assert answer.status_code == 401
    assert "ml-team/other" in answer.json()["detail"]


def _client_without_secrets(ledger: Ledger, insecure_dev: bool) -> TestClient:
    return TestClient(create_app(ListenerSettings(insecure_dev=insecure_dev), ledger))


def test_source_without_secrets_refuses_everything_unless_insecure_dev(ledger: Ledger) -> None:
    body = push_body()
    unsigned = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "u-1"}
    with _client_without_secrets(ledger, insecure_dev=False) as secure:
        answer = secure.post("/webhooks/github", content=body, headers=unsigned)
        assert answer.status_code == 401
        assert "no secret configured" in answer.json()["detail"]
    with _client_without_secrets(ledger, insecure_dev=True) as insecure:
        assert insecure.post("/webhooks/github", content=body, headers=unsigned).status_code == 202


def test_unknown_source_is_404(client: TestClient) -> None:
    answer = client.post("/webhooks/bitbucket", content=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status_code == 404
    assert "github" in answer.json()["detail"]


@pytest.mark.parametrize("content_type", ["multipart/form-data", "text/plain", ""])
def test_wrong_content_type_is_415(client: TestClient, content_type: str) -> None:
    body = push_body()
    headers = {**github_headers(body, GITHUB_SECRET), "Content-Type": content_type}
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 415


def test_malformed_json_is_400(client: TestClient) -> None:
    body = b'{"ref": "refs/heads/main",'
    answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET))
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["detail"]


def test_deeply_nested_json_is_400_not_a_crash(client: TestClient) -> None:
    body = b'{"ref": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET))
    assert answer.status_code == 400
    assert "recursion" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B}, "repository"),
        ({"ref": "refs/heads/main", "before": SHA_A, "repository": {"full_name": "a/b"}}, "after"),
        ({"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B, "repository": {}}, "repository.full_name"),
        (
            {"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B, "repository": {"full_name": "a/b;reboot"}},
            "repository.full_name",
        ),
        (
            {
                "ref": "refs/heads/main",
                "before": SHA_A,
                "after": SHA_B,
                "repository": {"full_name": "a/b"},
                "commits": [{"message": "no id"}],
            },
            "commits.0.id",
        ),
    ],
)
def test_missing_or_invalid_fields_are_422_naming_the_field(
    client: TestClient, payload: dict[str, Any], field: str
) -> None:
    body = json.dumps(payload).encode()
    answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET))
    assert answer.status_code == 422
    assert f"'{field}'" in answer.json()["detail"]


def test_body_over_the_limit_is_413_from_content_length(client: TestClient) -> None:
    body = push_body(padding="x" * 70_000)
    answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET))
    assert answer.status_code == 413


def test_chunked_body_over_the_limit_is_413_before_it_is_all_read(ledger: Ledger) -> None:
    """Stream 1 MB in 1 KB chunks to a real server with a 64 KB limit; the 413 must come back mid-stream."""
    with serve(create_app(listener_settings(), ledger)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(
                b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256="
                + b"0" * 64
                + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunks_sent = 0
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while chunks_sent < 1024 and not select.select([conn], [], [], 0.01)[0]:
                    conn.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
                    chunks_sent += 1
            answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
    assert chunks_sent < 1024


def test_no_secret_appears_in_responses_or_logs(client: TestClient) -> None:
    body = push_body()
    with capture_logs() as logged:
        answers = [
            client.post("/webhooks/github", content=body, headers=github_headers(body, "wrong")),
            client.post("/webhooks/gitlab", content=b"{}", headers=gitlab_headers("guessed-token")),
            client.post("/webhooks/github", content=b"{", headers=github_headers(b"{", GITHUB_SECRET)),
        ]
    seen = " ".join(a.text for a in answers) + repr(logged)
    for secret in (GITHUB_SECRET, GITLAB_TOKEN, "guessed-token", "private-repo-secret"):
        assert secret not in seen
    assert [entry["reason"] for entry in logged] == ["unauthorized", "unauthorized", "malformed"]


def test_bad_input_never_causes_a_5xx(client: TestClient) -> None:
    bodies = [b"", b"null", b"[]", b'"text"', b"\xff\xfe", b'{"ref": 1}', push_body()[:-1], b"{" * 300]
    for source in ("github", "gitlab", "gitea", "mlflow", "databricks", "data"):
        for body in bodies:
            answer = client.post(f"/webhooks/{source}", content=body, headers={"Content-Type": "application/json"})
            assert 400 <= answer.status_code < 500, (source, body, answer.text)


def test_operations_endpoints(ledger: Ledger) -> None:
    ready = {"value": False}
    with TestClient(create_app(listener_settings(), ledger, kafka_ready=lambda: ready["value"])) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        ready["value"] = True
        assert client.get("/readyz").json() == {"ready": True, "checks": {"ledger": True, "kafka": True}}
        metrics = client.get("/metrics").text
        assert "mlops_gitops_webhook_ack_seconds" in metrics
        assert "mlops_gitops_kafka_consumer_lag" in metrics


def test_the_clone_url_comes_from_configuration_not_from_the_payload(client: TestClient, ledger: Ledger) -> None:
    body = push_body(
        "ml-team/churn-model",
        repository={"full_name": "ml-team/churn-model", "clone_url": "https://evil.example/x.git"},
    )
    answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET))
    assert answer.status_code == 202, answer.text
    record = ledger.reads.get(answer.json()["event_ids"][0])
    assert record is not None and isinstance(record.event.data, PushData)
    assert record.event.data.clone_url == "https://github.com/ml-team/churn-model.git"


def test_a_host_without_a_configured_clone_url_gives_none(ledger: Ledger) -> None:
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "before": SHA_A,
            "after": SHA_B,
            "repository": {"full_name": "a/b", "clone_url": "https://evil.example/x.git"},
        }
    ).encode()
    with TestClient(create_app(listener_settings(), ledger)) as api:
        answer = api.post("/webhooks/gitea", content=body, headers=gitea_headers(body, GITEA_SECRET))
    assert answer.status_code == 202, answer.text
    record = ledger.reads.get(answer.json()["event_ids"][0])
    assert record is not None and isinstance(record.event.data, PushData) and record.event.data.clone_url == ""
    with pytest.raises(ValueError, match="only the placeholder"):
        ListenerSettings.model_validate({"webhooks": {"clone_urls": {"gitea": "https://git.example/{owner}.git"}}})
