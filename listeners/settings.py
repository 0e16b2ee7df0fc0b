"""Settings of the webhook sources, the Kafka consumer and the registry watcher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, SecretStr, model_validator

from core.secrets import MIN_SECRET_BYTES, StrongSecret
from core.settings_model import SettingsModel
from listeners.standard_webhooks import PREFIX as STANDARD_WEBHOOKS_PREFIX
from listeners.standard_webhooks import signing_key

WebhookSecret = StrongSecret
"""A signing secret or token: at least 16 bytes, not blank (anyone can sign with an empty or guessable key)."""


class SourceSecrets(SettingsModel):
    """Secrets one webhook source accepts: several at once so they can be rotated, optionally per repository."""

    secrets: list[WebhookSecret] = Field(default_factory=list)
    per_repo: dict[str, list[WebhookSecret]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _standard_webhooks_keys_are_usable(self) -> SourceSecrets:
        """A ``whsec_`` secret stands for the key it encodes: that key, not the text, must be long enough."""
        for secret in [*self.secrets, *(s for values in self.per_repo.values() for s in values)]:
            key = signing_key(secret.get_secret_value())
            if secret.get_secret_value().startswith(STANDARD_WEBHOOKS_PREFIX) and len(key) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"a {STANDARD_WEBHOOKS_PREFIX} secret must encode a key of at least {MIN_SECRET_BYTES} bytes"
                )
        return self


WebhookSource = Literal["github", "gitlab", "gitea", "mlflow", "databricks", "data"]
WEBHOOK_SOURCES: tuple[WebhookSource, ...] = get_args(WebhookSource)


GitHostName = Literal["github", "gitlab", "gitea"]


def _only_repo_placeholder(template: str) -> str:
    try:
        template.format(repo="owner/name")
    except (KeyError, IndexError, ValueError):
        raise ValueError("a clone URL template may use only the placeholder {repo}") from None
    return template


CloneUrlTemplate = Annotated[str, Field(min_length=1), AfterValidator(_only_repo_placeholder)]
PUBLIC_CLONE_URLS: dict[GitHostName, str] = {
    "github": "https://github.com/{repo}.git",
    "gitlab": "https://gitlab.com/{repo}.git",
}

SMALL_BODY_LIMITS: dict[WebhookSource, int] = {"mlflow": 64 * 1024, "databricks": 64 * 1024, "data": 1024 * 1024}


class WebhookSettings(SettingsModel):
    sources: list[WebhookSource] | None = Field(
        default=None,
        description="The webhook endpoints to open (POST /webhooks/<source>); each needs a secret unless "
        "insecure_dev. Unset: the sources that have a secret, or all of them when none has one.",
    )
    max_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, description="Largest body of any source.")
    body_limits: dict[WebhookSource, Annotated[int, Field(ge=1024)]] = Field(
        default_factory=lambda: dict(SMALL_BODY_LIMITS),
        description="Smaller limits for sources whose deliveries are small (registry changes, data notices).",
    )
    max_concurrent_large_bodies: int = Field(
        default=4,
        ge=1,
        description="Bodies over 64 KiB (or of unknown size) read at once; further ones wait their turn, then 503.",
    )
    timestamp_tolerance_seconds: int = Field(default=300, ge=1)
    clone_urls: dict[GitHostName, CloneUrlTemplate] = Field(
        default_factory=lambda: dict(PUBLIC_CLONE_URLS),
        description="How a pushed repository is cloned, per git host; {repo} is the pushed 'owner/name'. The "
        "clone URL a payload names is never used. A host without one gives its pushes an empty clone_url.",
    )
    github: SourceSecrets = Field(default_factory=SourceSecrets)
    gitlab: SourceSecrets = Field(default_factory=SourceSecrets)
    gitea: SourceSecrets = Field(default_factory=SourceSecrets)
    mlflow: SourceSecrets = Field(default_factory=SourceSecrets)
    databricks: SourceSecrets = Field(default_factory=SourceSecrets)
    data: SourceSecrets = Field(default_factory=SourceSecrets)

    def body_limit(self, source: WebhookSource) -> int:
        """The largest body ``source`` takes: its own limit, never above ``max_body_bytes``."""
        return min(self.body_limits.get(source, self.max_body_bytes), self.max_body_bytes)

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
    max_events_per_delivery: int = Field(
        default=100,
        ge=1,
        description="Most events one delivery (an S3 notification's records, over HTTP or Kafka) may become; "
        "more is refused with 413 (a dead letter over Kafka), so one delivery cannot flood the dispatcher.",
    )
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry_watcher: RegistryWatcherSettings = Field(default_factory=RegistryWatcherSettings)
