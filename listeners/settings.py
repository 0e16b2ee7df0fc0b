"""Settings of the webhook sources, the Kafka consumer and the registry watcher."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, SecretStr

WebhookSecret = Annotated[SecretStr, Field(min_length=1)]
"""A signing secret or token; an empty one is refused, since anyone can sign with an empty HMAC key."""


class SourceSecrets(BaseModel):
    """Secrets one webhook source accepts: several at once so they can be rotated, optionally per repository."""

    secrets: list[WebhookSecret] = Field(default_factory=list)
    per_repo: dict[str, list[WebhookSecret]] = Field(default_factory=dict)


class WebhookSettings(BaseModel):
    max_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    timestamp_tolerance_seconds: int = Field(default=300, ge=1)
    github: SourceSecrets = Field(default_factory=SourceSecrets)
    gitlab: SourceSecrets = Field(default_factory=SourceSecrets)
    gitea: SourceSecrets = Field(default_factory=SourceSecrets)
    mlflow: SourceSecrets = Field(default_factory=SourceSecrets)
    databricks: SourceSecrets = Field(default_factory=SourceSecrets)
    data: SourceSecrets = Field(default_factory=SourceSecrets)

    def secrets_for(self, source: str) -> SourceSecrets:
        secrets = getattr(self, source, None)
        if not isinstance(secrets, SourceSecrets):
            raise KeyError(f"no secrets group for source {source!r}")
        return secrets


class KafkaSettings(BaseModel):
    enabled: bool = False
    bootstrap_servers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9092"])
    topics: list[str] = Field(default_factory=lambda: ["data-arrivals"])
    group_id: str = "mlops-gitops"
    security_protocol: str = Field(default="PLAINTEXT", pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$")
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    dlq_topic: str | None = None
    client_id: str = "mlops-gitops-listener"
    auto_offset_reset: str = Field(default="earliest", pattern="^(earliest|latest)$")
    max_poll_records: int = Field(default=1000, ge=1, le=2000, description="Records written per ledger transaction.")
    poll_timeout_ms: int = Field(default=500, ge=10)


class RegistryWatcherSettings(BaseModel):
    enabled: bool = True
    interval_seconds: float = Field(default=30.0, gt=0)
    models: list[str] = Field(default_factory=list, description="Registered models to watch; empty means all.")


class ListenerSettings(BaseModel):
    insecure_dev: bool = Field(default=False, description="Accept unsigned webhooks when a source has no secret.")
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry_watcher: RegistryWatcherSettings = Field(default_factory=RegistryWatcherSettings)
