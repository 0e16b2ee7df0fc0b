"""Settings of the ledger, the rules and the dispatcher."""

from __future__ import annotations

from pathlib import Path

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


class RulesSettings(SettingsModel):
    path: Path = Field(
        default=Path("rules.yaml"),
        description="YAML file of triggers (see examples/rules.yaml); validated at start-up.",
    )


class DispatcherSettings(SettingsModel):
    enabled: bool = True
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    batch_size: int = Field(default=20, ge=1, le=1000)
    lease_seconds: int = Field(
        default=300, ge=5, description="How long a claimed event stays ours before others may take it."
    )
    max_attempts: int = Field(default=5, ge=1)
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
