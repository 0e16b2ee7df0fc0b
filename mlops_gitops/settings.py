"""One settings object for the whole process, built once at start-up.

Each layer owns the model of its own settings group; this module composes them
and decides where values come from, highest priority first: environment
variables (``MLOPS_GITOPS_`` prefix, ``__`` between nested names, e.g.
``MLOPS_GITOPS_LEDGER__URL``), then the YAML config file, then defaults.
Nothing reads the environment at import time: :func:`load_settings` does, once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from core.errors import PermanentError
from core.secrets import StrongSecret, is_short
from core.settings_model import SettingsModel
from core.validation import validation_problems
from gitops.settings import GitOpsSettings
from listeners.settings import WEBHOOK_SOURCES, ListenerSettings
from triggers.settings import DispatcherSettings, LedgerSettings, RulesSettings
from workflows.settings import WorkflowSettings

ENV_PREFIX = "MLOPS_GITOPS_"


ApiToken = StrongSecret
"""A bearer token of the status API: at least 16 bytes, not blank."""


class ServerSettings(SettingsModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    read_tokens: list[ApiToken] = Field(
        default_factory=list,
        description="Bearer tokens for the status API (GET /events, /events/{id}, /docs, /openapi.json); several "
        "at once so one can be rotated. Without any (and without admin tokens) the status API is refused.",
    )
    admin_tokens: list[ApiToken] = Field(
        default_factory=list,
        description="Bearer tokens for replay and dead letters; an admin token also reads. Without any, the admin "
        "endpoints are refused.",
    )
    max_response_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="Largest status API answer: a list stops at this size and says where to go on; a bigger "
        "single answer is a 413.",
    )


class MlflowSettings(SettingsModel):
    tracking_uri: str = "http://127.0.0.1:5000"
    request_max_retries: int = Field(
        default=2,
        ge=0,
        description="Retries inside one MLflow call. MLflow's own default (7) holds a call for minutes while the "
        "server is down; the dispatcher retries a failed action with its own backoff instead.",
    )
    request_timeout_seconds: int = Field(default=30, ge=1, description="Time-out of one MLflow HTTP request.")


class LoggingSettings(SettingsModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool | None = Field(default=None, description="JSON lines; default: JSON unless on a terminal.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    server: ServerSettings = Field(default_factory=ServerSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    dispatcher: DispatcherSettings = Field(default_factory=DispatcherSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    listeners: ListenerSettings = Field(default_factory=ListenerSettings)
    workflows: WorkflowSettings = Field(default_factory=WorkflowSettings)
    gitops: GitOpsSettings = Field(default_factory=GitOpsSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The config file arrives as init kwargs; the environment must win over it.
        return env_settings, init_settings

    def short_secrets(self) -> list[str]:
        """Where a webhook secret or status API token is accepted but shorter than 32 bytes (never the value)."""
        places = [f"server.read_tokens[{n}]" for n, t in enumerate(self.server.read_tokens) if is_short(t)]
        places += [f"server.admin_tokens[{n}]" for n, t in enumerate(self.server.admin_tokens) if is_short(t)]
        for source in WEBHOOK_SOURCES:
            secrets = self.listeners.webhooks.secrets_for(source)
            where = f"listeners.webhooks.{source}"
            places += [f"{where}.secrets[{n}]" for n, s in enumerate(secrets.secrets) if is_short(s)]
            places += [
                f"{where}.per_repo.{repo}[{n}]"
                for repo, values in secrets.per_repo.items()
                for n, s in enumerate(values)
                if is_short(s)
            ]
        return places

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                for name in type(value).model_fields:
                    walk(getattr(value, name))
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(self)
        return found


class ConfigError(PermanentError):
    """The configuration is invalid; ``problems`` has one line per problem, naming the field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid configuration in {source}: " + "; ".join(problems))


def _read_yaml(config_file: Path) -> dict[str, Any]:
    """The config file's document, read as YAML 1.2 like the rules (so ``on:`` stays a key, not ``True``)."""
    try:
        loaded = YAML(typ="safe").load(config_file.read_text())
    except OSError as e:
        raise ConfigError(str(config_file), [f"cannot read file: {e.strerror}"]) from e
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(str(config_file), [f"{where}not valid YAML ({getattr(e, 'problem', e)})"]) from e
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(str(config_file), ["top level must be a mapping of settings groups"])
    return loaded


def load_settings(config_file: Path | None = None) -> Settings:
    """Build and validate the settings, or raise :class:`ConfigError` listing every problem."""
    values = _read_yaml(config_file) if config_file else {}
    source = str(config_file or "environment")
    try:
        return Settings(**values)
    except ValidationError as e:
        raise ConfigError(source, validation_problems(e, values)) from e
