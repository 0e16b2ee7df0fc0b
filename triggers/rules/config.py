"""The rules file's schema: what a user may write, checked by pydantic at start-up.

These models describe the YAML as written; ``triggers.rules.loader`` turns a
validated file into compiled ``Rule`` objects. Action bodies are validated
against the spec model of their ``kind`` from the action registry (so a new
action kind needs no change here), which is why ``action`` is a plain mapping
at this level.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from core.identifiers import DnsLabel
from triggers.event import EventType
from triggers.rules.expressions import check_expression
from triggers.rules.templating import check_template


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Globs = Annotated[list[str], BeforeValidator(_as_list)]
TemplateText = Annotated[str, AfterValidator(check_template)]
ExpressionText = Annotated[str, AfterValidator(check_expression)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ActionSpec(BaseModel):
    """Base of every action kind's ``action:`` block; each kind's module in ``triggers.actions`` subclasses it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str


class StageTransition(_Strict):
    """Registry stage move; ``None`` matches any stage on that side. Compared case-insensitively."""

    from_stage: Globs | None = Field(default=None, alias="from")
    to_stage: Globs | None = Field(default=None, alias="to")


class FiltersConfig(_Strict):
    """Every filter given must match; an empty filter matches everything. Lists are globs (fnmatch)."""

    repos: Globs = Field(
        default_factory=list, description="Repository 'owner/name' (push events), compared case-folded."
    )
    branches: Globs = Field(default_factory=list, description="Branch name, e.g. 'main' or 'release/*'.")
    refs: Globs = Field(default_factory=list, description="Full ref, e.g. 'refs/tags/v*'.")
    paths: Globs = Field(default_factory=list, description="Changed file paths; '*' also crosses '/'.")
    on_truncated: Literal["match", "skip", "fail"] = Field(
        default="match",
        description="When the host truncated the commit list the changed paths are unknown: run anyway (match), "
        "ignore the event (skip) or dead-letter it for a person to look at (fail).",
    )
    datasets: Globs = Field(default_factory=list, description="Dataset key or prefix, e.g. 'churn/*'.")
    models: Globs = Field(default_factory=list, description="Registered model name.")
    stage: StageTransition | None = None
    aliases: Globs = Field(default_factory=list, description="Alias set or deleted, e.g. 'champion'.")
    when: ExpressionText | None = Field(default=None, description="Safe expression over the event's fields.")


class DebounceConfig(_Strict):
    key: TemplateText = Field(description="Template naming what to coalesce on, e.g. '{{ data.dataset }}'.")
    quiet_seconds: float = Field(gt=0, description="Act once no new event came for this long.")
    max_wait_seconds: float = Field(gt=0, description="...but never later than this after the first event.")

    @model_validator(mode="after")
    def _max_wait_covers_quiet(self) -> DebounceConfig:
        if self.max_wait_seconds < self.quiet_seconds:
            raise ValueError("max_wait_seconds must be at least quiet_seconds")
        return self


class ConcurrencyConfig(_Strict):
    key: TemplateText = Field(
        description="Template naming what may not run twice at once, e.g. '{{ data.model_name }}'."
    )
    policy: Literal["allow", "queue", "replace"] = Field(
        default="allow",
        description="allow: run side by side; queue: wait for the running one; replace: cancel the running one.",
    )


class RateLimitConfig(_Strict):
    max_runs: int = Field(ge=1, description="At most this many actions of the rule start ...")
    per_seconds: float = Field(gt=0, description="... per window of this many seconds; later ones wait.")


class FollowUpConfig(_Strict):
    when: ExpressionText | None = Field(
        default=None, description="Condition over the event and the previous step's 'outputs'; absent means always."
    )
    action: dict[str, Any]


class TriggerConfig(_Strict):
    name: DnsLabel
    description: str = ""
    on: list[EventType] = Field(min_length=1, description="Event types this trigger listens to.")
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    action: dict[str, Any]
    then: list[FollowUpConfig] = Field(
        default_factory=list, description="Actions run one after another once the previous one succeeded."
    )
    debounce: DebounceConfig | None = None
    concurrency: ConcurrencyConfig | None = None
    rate_limit: RateLimitConfig | None = None
    retries: int | None = Field(
        default=None,
        ge=0,
        description="How often each action of the trigger is tried again after a temporary failure before it fails; "
        "default: dispatcher.action_retries.",
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="How long each action of the trigger may run (from its start) before it is cancelled and "
        "fails; default: dispatcher.action_timeout_seconds.",
    )


class RulesFileConfig(_Strict):
    version: Literal[1] = 1
    triggers: list[TriggerConfig] = Field(default_factory=list)

    @field_validator("triggers")
    @classmethod
    def _names_are_unique(cls, triggers: list[TriggerConfig]) -> list[TriggerConfig]:
        names = [t.name for t in triggers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"trigger names must be unique; repeated: {', '.join(repeated)}")
        return triggers
