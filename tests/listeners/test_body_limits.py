"""What an unauthenticated or oversized body costs: its signature header is judged before it is read, each
source has its own size limit, and only a few large bodies are read at once."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from fastapi.testclient import TestClient

from devtools.devstack.senders import github_headers, standard_webhooks_headers
from listeners.http.app import create_app
from listeners.http.large_bodies import INLINE_BODY_BYTES, BusyError, LargeBodySlots
from tests.listeners.conftest import DATA_WHSEC, GITHUB_SECRET, listener_settings
from tests.listeners.serving import serve
from triggers.ledger import Ledger

DECLARED = 60_000
"""Under the tests' 64 KiB limit: only the signature header can refuse it before the body arrives."""

BAD_SIGNATURE_HEADERS = [
    ("github", {}),
    ("github", {"X-Hub-Signature-256": "sha256=00"}),
    ("github", {"X-Hub-Signature-256": "sha1=" + "0" * 40}),
    ("gitea", {"X-Gitea-Signature": "not-hex"}),
    ("gitlab", {}),
    ("databricks", {"X-Databricks-Signature": "0" * 63}),
    ("mlflow", {"X-MLflow-Signature": "v1,short", "X-MLflow-Delivery-Id": "d", "X-MLflow-Timestamp": "1"}),
    ("data", {}),
    ("data", {"Authorization": "Bearer "}),
    ("data", {"webhook-signature": "v2,abc", "webhook-id": "m", "webhook-timestamp": "1"}),
]


@pytest.mark.parametrize(("source", "headers"), BAD_SIGNATURE_HEADERS)
def test_a_missing_or_malformed_signature_is_refused_before_the_body_is_sent(
    ledger: Ledger, source: str, headers: dict[str, str]
) -> None:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = (
        f"POST /webhooks/{source} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {DECLARED}\r\n{lines}\r\n"
    )
    with (
        serve(create_app(listener_settings(), ledger)) as url,
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=20) as conn,
    ):
        conn.sendall(head.encode())  # and not one byte of the body
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_each_source_has_its_own_body_limit(ledger: Ledger) -> None:
    settings = listener_settings()
    settings.webhooks.max_body_bytes = 25 * 1024 * 1024
    notice = json.dumps({"id": "big", "dataset": "lake/big", "etag": "x" * (2 * 1024 * 1024)}).encode()
    push = json.dumps({"ref": "refs/heads/main", "padding": "x" * (2 * 1024 * 1024)}).encode()
    with TestClient(create_app(settings, ledger)) as client:
        refused = client.post("/webhooks/data", content=notice, headers=standard_webhooks_headers(notice, DATA_WHSEC))
        assert refused.status_code == 413 and "1048576-byte limit" in refused.json()["detail"]
        read = client.post("/webhooks/github", content=push, headers=github_headers(push, GITHUB_SECRET))
        assert read.status_code == 422, "a 2 MB push is read (and found invalid), not refused for its size"


def test_large_bodies_take_a_slot_and_small_ones_never_wait() -> None:
    async def scenario() -> None:
        slots = LargeBodySlots(1, wait_seconds=0.05)
        async with slots.held_for(str(INLINE_BODY_BYTES + 1)):
            async with slots.held_for(str(INLINE_BODY_BYTES)):
                pass  # a small body passes while the only slot is taken
            for unknown_or_large in (None, "chunked", str(10 * INLINE_BODY_BYTES)):
                with pytest.raises(BusyError):
                    async with slots.held_for(unknown_or_large):
                        pass
        async with slots.held_for(None):
            pass  # released: the slot is free again

    asyncio.run(scenario())
