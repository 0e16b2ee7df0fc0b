"""Settings of the ledger, the rules and the dispatcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from core.settings_model import SettingsModel


class LedgerSettings(SettingsModel):
    url: str = Field(
        default="sqlite:///.mlops-gitops/ledger.db",
        description="SQLAlchemy URL. SQLite for one node; postgresql+psycopg://... for replicas.",
    )
    sqlite_synchronous: str = Field(
        default="FULL", pattern="^(FULL|NORMAL)$", description="SQLite fsync policy; FULL survives power loss."
    )
    retention_days: float = Field(
        default=30.0,
        ge=3,
        description="Finished events, closed debounce batches and dead letters older than this are deleted "
        "(hourly). At least 3 days: a stored event is what makes a redelivery of its key a duplicate.",
    )


class RulesSettings(SettingsModel):
    """Where the trigger rules come from: their own file, or inline in the config (one file to start from)."""

    path: Path = Field(
        default=Path("rules.yaml"),
        description="YAML file of triggers (`mlops-gitops config example` shows one); used unless `inline` is set.",
    )
    inline: dict[str, Any] | None = Field(
        default=None, description="The rules themselves, in the rules file's shape ({version, triggers})."
    )

    @property
    def source(self) -> str:
        """Where the rules were read from, as problems and start-up messages name it."""
        return "rules.inline" if self.inline is not None else str(self.path)


class DispatcherSettings(SettingsModel):
    enabled: bool = True
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    batch_size: int = Field(default=20, ge=1, le=1000)
    lease_seconds: int = Field(
        default=300, ge=5, description="How long a claimed event stays ours before others may take it."
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Passes over an event that fail outside its actions (the rules or the ledger erring) before it "
        "is dead-lettered. Actions have budgets of their own (below).",
    )
    action_retries: int = Field(
        default=4,
        ge=0,
        description="How often an action is tried again after a temporary failure before it fails (a rule's "
        "'retries' overrides it). Only that action fails; the event's other rules carry on.",
    )
    action_timeout_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="How long an action may run from its start before it is cancelled and fails (a rule's "
        "'timeout_seconds' overrides it).",
    )
    status_poll_failures: int = Field(
        default=10,
        ge=1,
        description="Failed status checks of a running workflow in a row before its action fails; a successful "
        "check starts the count again, so blips spread over a long run never add up.",
    )
    backoff_initial_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    run_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often an event whose workflow run is still going checks on it again."
    )
    queue_poll_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often an event queued behind a running action (policy 'queue') looks again.",
    )
