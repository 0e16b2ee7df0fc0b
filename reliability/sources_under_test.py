"""One valid delivery per source, the starting point the property tests mutate.

Each entry names the headers a source reads and a payload that the source
accepts as it is, so a mutation that is refused was refused for the mutation,
not for a missing field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from reliability.hostile import json_values, valid_or_hostile

SHA_BEFORE = "1" * 40
SHA_AFTER = "2" * 40
COMMIT = {
    "id": SHA_AFTER,
    "message": "train on new features",
    "author": {"name": "Ada", "email": "ada@example.com"},
    "added": ["configs/xgb_model_params.yaml"],
    "modified": [],
    "removed": [],
}


@dataclass(frozen=True)
class SourceCase:
    source: str
    headers: dict[str, str]
    payload: dict[str, Any]
    signature_headers: tuple[str, ...] = field(default=())


CASES: tuple[SourceCase, ...] = (
    SourceCase(
        "github",
        {"x-github-event": "push", "x-github-delivery": "d-1"},
        {
            "ref": "refs/heads/main",
            "before": SHA_BEFORE,
            "after": SHA_AFTER,
            "commits": [COMMIT],
            "repository": {"full_name": "team/churn", "clone_url": "https://github.com/team/churn.git"},
            "pusher": {"name": "ada"},
        },
        ("x-hub-signature-256",),
    ),
    SourceCase(
        "gitlab",
        {"x-gitlab-event": "Push Hook", "idempotency-key": "k-1"},
        {
            "ref": "refs/heads/main",
            "before": SHA_BEFORE,
            "after": SHA_AFTER,
            "user_username": "ada",
            "commits": [COMMIT],
            "total_commits_count": 1,
            "project": {
                "path_with_namespace": "team/churn",
                "git_http_url": "https://gitlab.example.com/team/churn.git",
            },
        },
        ("x-gitlab-token",),
    ),
    SourceCase(
        "gitea",
        {"x-gitea-event": "push", "x-gitea-delivery": "g-1"},
        {
            "ref": "refs/heads/main",
            "before": SHA_BEFORE,
            "after": SHA_AFTER,
            "commits": [COMMIT],
            "total_commits": 1,
            "repository": {"full_name": "team/churn", "clone_url": "https://gitea.example.com/team/churn.git"},
            "pusher": {"login": "ada"},
        },
        ("x-gitea-signature", "x-forgejo-signature"),
    ),
    SourceCase(
        "mlflow",
        {"x-mlflow-delivery-id": "m-1"},
        {
            "entity": "model_version",
            "action": "created",
            "data": {"name": "churn-xgb", "version": "3", "source": "models:/churn-xgb/3", "run_id": "r" * 32},
        },
        ("x-mlflow-signature", "x-mlflow-delivery-id", "x-mlflow-timestamp"),
    ),
    SourceCase(
        "mlflow",
        {"x-mlflow-delivery-id": "m-2"},
        {
            "entity": "model_version_alias",
            "action": "created",
            "data": {"name": "churn-xgb", "alias": "champion", "version": "3"},
        },
    ),
    SourceCase(
        "databricks",
        {},
        {
            "event": "MODEL_VERSION_TRANSITIONED_STAGE",
            "event_timestamp": int(time.time() * 1000),
            "model_name": "churn-xgb",
            "version": "3",
            "from_stage": "Staging",
            "to_stage": "Production",
        },
        ("x-databricks-signature",),
    ),
    SourceCase(
        "data",
        {"webhook-id": "msg_1"},
        {
            "id": "n-1",
            "dataset": "raw/churn/events",
            "uri": "s3://raw/churn/events/date=2026-11-26/",
            "partition": "date=2026-11-26",
        },
        ("webhook-signature", "webhook-id", "webhook-timestamp", "authorization"),
    ),
    SourceCase(
        "data",
        {},
        {
            "specversion": "1.0",
            "id": "ce-1",
            "source": "minio",
            "type": "object.created",
            "subject": "raw/churn/events",
            "data": {"partition": "date=2026-11-26"},
        },
    ),
    SourceCase(
        "data",
        {},
        {
            "Records": [
                {
                    "eventName": "s3:ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": "raw"},
                        "object": {"key": "churn/events/date=2026-11-26/part-0.parquet", "size": 10, "sequencer": "01"},
                    },
                }
            ]
        },
    ),
)


def mutated(value: Any) -> st.SearchStrategy[Any]:
    """``value`` with any of its leaves (and sometimes whole sub-trees) replaced by hostile values."""
    if isinstance(value, dict):
        return st.one_of(st.fixed_dictionaries({k: mutated(v) for k, v in value.items()}), json_values)
    if isinstance(value, list):
        return st.one_of(st.lists(mutated(value[0]), max_size=3), json_values) if value else st.just([])
    if isinstance(value, str):
        return valid_or_hostile(value)
    return st.one_of(st.just(value), json_values)
