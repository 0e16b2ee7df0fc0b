"""Builders of realistic events for the rules and dispatcher tests."""

from __future__ import annotations

import uuid

from triggers.event import Commit, DataArrival, Event, EventType, ModelChange, PushData

BOT_EMAIL = "mlops-gitops-bot@users.noreply.local"


def push(
    *,
    repo: str = "acme/churn-model",
    ref: str = "refs/heads/main",
    paths: tuple[str, ...] = ("src/train.py",),
    truncated: bool = False,
    author_email: str = "dev@acme.test",
    message: str = "Tune the learning rate",
    key: str | None = None,
) -> Event:
    commit = Commit(id=uuid.uuid4().hex[:12] + "0" * 28, message=message, author_email=author_email, modified=paths)
    return Event(
        source=f"github/{repo}",
        type=EventType.GIT_PUSH,
        subject=ref,
        data=PushData(
            host="github",
            repo=repo,
            ref=ref,
            before="0" * 40,
            after=commit.id,
            commits=(commit,),
            total_commits=25 if truncated else 1,
            commits_truncated=truncated,
        ),
        idempotency_key=key or f"gh-delivery-{uuid.uuid4()}",
    )


def data_notice(dataset: str = "churn/customer_activity", partition: str = "date=2026-11-26") -> Event:
    return Event(
        source="s3/raw-data",
        type=EventType.DATA_ARRIVED,
        subject=f"{dataset}/{partition}",
        data=DataArrival(dataset=dataset, partition=partition, key=f"{dataset}/{partition}/part-0.parquet"),
        idempotency_key=f"s3-{uuid.uuid4()}",
    )


def stage_change(
    model: str = "churn-xgb", version: str = "3", from_stage: str = "Staging", to_stage: str = "Production"
) -> Event:
    return Event(
        source="mlflow/registry",
        type=EventType.MODEL_STAGE_CHANGED,
        subject=f"{model}/{version}",
        data=ModelChange(model_name=model, version=version, from_stage=from_stage, to_stage=to_stage),
        idempotency_key=f"mlflow-{uuid.uuid4()}",
    )
