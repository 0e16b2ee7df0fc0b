"""How each sender signs a delivery, written from the senders' documentation.

Kept apart from the service's own verification code, so the tests and the demo
sign the way GitHub, GitLab, Gitea, MLflow, Databricks and Standard Webhooks
do, not the way the service happens to check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

from listeners.standard_webhooks import signing_key


def github_headers(body: bytes, secret: str, event: str = "push", delivery: str | None = None) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def gitlab_headers(token: str, event: str = "Push Hook", key: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token,
        "Idempotency-Key": key or str(uuid.uuid4()),
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
    }


def gitea_headers(body: bytes, secret: str, event: str = "push", delivery: str | None = None) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event": event,
        "X-GitHub-Event": event,
        "X-Gitea-Delivery": delivery or str(uuid.uuid4()),
        "X-Gitea-Signature": digest,
    }


def mlflow_headers(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    delivery, sent = str(uuid.uuid4()), str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"{delivery}.{sent}.{body.decode()}".encode(), hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": sent,
        "X-MLflow-Signature": f"v1,{base64.b64encode(mac).decode()}",
    }


def databricks_headers(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Databricks-Signature": digest}


def standard_webhooks_headers(body: bytes, whsec: str, *, content_type: str = "application/json") -> dict[str, str]:
    key = signing_key(whsec)
    message_id, sent = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    mac = hmac.new(key, f"{message_id}.{sent}.".encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": content_type,
        "webhook-id": message_id,
        "webhook-timestamp": sent,
        "webhook-signature": f"v1,{base64.b64encode(mac).decode()}",
    }
