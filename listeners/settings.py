"""Settings of the webhook sources, the Kafka consumer and the registry watcher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, get_args

from pydantic import Field, SecretStr

from core.settings_model import SettingsModel

WebhookSecret = Annotated[SecretStr, Field(min_length=1)]
"""A signing secret or token; an empty one is refused, since anyone can sign with an empty HMAC key."""


class SourceSecrets(SettingsModel):
    """Secrets one webhook source accepts: several at once so they can be rotated, optionally per repository."""

    secrets: list[WebhookSecret] = Field(default_factory=list)
    per_repo: dict[str, list[WebhookSecret]] = Field(default_factory=dict)


WebhookSource = Literal["github", "gitlab", "gitea", "mlflow", "databricks", "data"]
WEBHOOK_SOURCES: tuple[WebhookSource, ...] = get_args(WebhookSource)


class WebhookSettings(SettingsModel):
    sources: list[WebhookSource] | None = Field(
        default=None,
        description="The webhook endpoints to open (POST /webhooks/<source>); each needs a secret unless "
        "insecure_dev. Unset: the sources that have a secret, or all of them when none has one.",
    )
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

    def open_sources(self) -> list[WebhookSource]:
        """The sources whose endpoint is open (see ``sources``)."""
        if self.sources is not None:
            return list(self.sources)
        signed = [name for name in WEBHOOK_SOURCES if name not in self.unsigned(WEBHOOK_SOURCES)]
        return signed or list(WEBHOOK_SOURCES)

    def unsigned(self, sources: Sequence[WebhookSource]) -> list[WebhookSource]:
        """Those of ``sources`` with no secret at all: nothing could sign a delivery they would accept."""
        return [name for name in sources if not self._has_secret(self.secrets_for(name))]

    @staticmethod
    def _has_secret(secrets: SourceSecrets) -> bool:
        return bool(secrets.secrets) or any(secrets.per_repo.values())


class KafkaSettings(SettingsModel):
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


class RegistryWatcherSettings(SettingsModel):
    enabled: bool = True
    interval_seconds: float = Field(default=30.0, gt=0)
    models: list[str] = Field(default_factory=list, description="Registered models to watch; empty means all.")


class ListenerSettings(SettingsModel):
    insecure_dev: bool = Field(
        default=False,
        description="Start although open webhook sources have no secret, accepting their unsigned deliveries.",
    )
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry_watcher: RegistryWatcherSettings = Field(default_factory=RegistryWatcherSettings)
