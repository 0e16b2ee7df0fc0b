"""Does an event pass a rule's filters? And if not, why not.

Each filter reads one field of one payload kind; the reason for a mismatch is
kept because an event that matches no rule is recorded as ``ignored`` with
the reasons, which is the first thing a user checks when a push "did
nothing". Globs are ``fnmatch`` patterns (``*`` also crosses ``/``).
Repository names and stages compare case-folded, as the hosts and the
registry treat them, so a differently cased name cannot slip past a filter.

A push whose commit list the host truncated (GitLab sends at most 20 commits)
has unknown changed paths; a path filter then does what the rule's
``on_truncated`` says instead of guessing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from core.errors import PermanentError
from triggers.event import DataArrival, Event, EventType, ModelChange, PushData
from triggers.rules.config import FiltersConfig
from triggers.rules.expressions import Expression

PAYLOAD_OF_TYPE: dict[EventType, type[PushData | DataArrival | ModelChange]] = {
    EventType.GIT_PUSH: PushData,
    EventType.GIT_TAG: PushData,
    EventType.DATA_ARRIVED: DataArrival,
    EventType.MODEL_VERSION_CREATED: ModelChange,
    EventType.MODEL_STAGE_CHANGED: ModelChange,
    EventType.MODEL_ALIAS_CHANGED: ModelChange,
    EventType.MODEL_ALIAS_DELETED: ModelChange,
    EventType.MODEL_TAG_SET: ModelChange,
}

FILTERS_OF_PAYLOAD: dict[type[PushData | DataArrival | ModelChange], frozenset[str]] = {
    PushData: frozenset({"repos", "branches", "refs", "paths"}),
    DataArrival: frozenset({"datasets"}),
    ModelChange: frozenset({"models", "stage", "aliases"}),
}


class TruncatedCommitsError(PermanentError):
    """A path filter met a push whose changed paths are unknown, and the rule says to fail."""


def inapplicable_filters(filters: FiltersConfig, event_types: Iterable[EventType]) -> list[str]:
    """Problems for filters that no event of the listed types can ever satisfy."""
    given = {name for name in FiltersConfig.model_fields if name not in ("on_truncated", "when")}
    given = {name for name in given if getattr(filters, name)}
    problems = []
    for event_type in event_types:
        supported = FILTERS_OF_PAYLOAD[PAYLOAD_OF_TYPE[event_type]]
        problems += [f"filters.{name}: does not apply to {event_type} events" for name in sorted(given - supported)]
    return problems


def _any_glob(value: str | None, globs: list[str]) -> bool:
    return value is not None and any(fnmatchcase(value, g) for g in globs)


def _any_glob_casefold(value: str | None, globs: list[str]) -> bool:
    return value is not None and any(fnmatchcase(value.casefold(), g.casefold()) for g in globs)


@dataclasses.dataclass(frozen=True)
class EventFilter:
    """A rule's filters, compiled."""

    rule: str
    config: FiltersConfig
    when: Expression | None

    @classmethod
    def compile(cls, rule: str, config: FiltersConfig) -> EventFilter:
        when = Expression(config.when, f"trigger {rule!r} filters.when") if config.when else None
        return cls(rule, config, when)

    def mismatch(self, event: Event, context: Mapping[str, Any]) -> str | None:
        """``None`` when the event passes, else the first reason it does not."""
        data = event.data
        if isinstance(data, PushData):
            reason = self._push_mismatch(data)
        elif isinstance(data, DataArrival):
            reason = self._data_mismatch(data)
        else:
            reason = self._model_mismatch(data)
        if reason is None and self.when is not None and not self.when.evaluate(context):
            reason = f"filters.when {self.when.source!r} is false"
        return reason

    def _push_mismatch(self, push: PushData) -> str | None:
        c = self.config
        if c.repos and not _any_glob_casefold(push.repo, c.repos):
            return f"repo {push.repo!r} not in filters.repos"
        if c.branches and not _any_glob(push.branch, c.branches):
            return f"ref {push.ref!r} is not a branch matching filters.branches"
        if c.refs and not _any_glob(push.ref, c.refs):
            return f"ref {push.ref!r} not in filters.refs"
        if c.paths:
            return self._paths_mismatch(push)
        return None

    def _paths_mismatch(self, push: PushData) -> str | None:
        if push.commits_truncated:
            if self.config.on_truncated == "match":
                return None
            reason = f"commit list truncated ({len(push.commits)} of {push.total_commits}), changed paths unknown"
            if self.config.on_truncated == "skip":
                return f"{reason} and filters.on_truncated is 'skip'"
            raise TruncatedCommitsError(
                f"trigger {self.rule!r}: {reason}; filters.on_truncated is 'fail': check the push by hand, "
                "then replay the event or change on_truncated"
            )
        if any(_any_glob(path, self.config.paths) for path in push.changed_paths):
            return None
        return "no changed path matches filters.paths"

    def _data_mismatch(self, data: DataArrival) -> str | None:
        if self.config.datasets and not _any_glob(data.dataset, self.config.datasets):
            return f"dataset {data.dataset!r} not in filters.datasets"
        return None

    def _model_mismatch(self, model: ModelChange) -> str | None:
        c = self.config
        if c.models and not _any_glob(model.model_name, c.models):
            return f"model {model.model_name!r} not in filters.models"
        if c.stage is not None:
            if c.stage.from_stage is not None and not _any_glob_casefold(model.from_stage, c.stage.from_stage):
                return f"from-stage {model.from_stage!r} not in filters.stage.from"
            if c.stage.to_stage is not None and not _any_glob_casefold(model.to_stage, c.stage.to_stage):
                return f"to-stage {model.to_stage!r} not in filters.stage.to"
        if c.aliases and not _any_glob(model.alias, c.aliases):
            return f"alias {model.alias!r} not in filters.aliases"
        return None
