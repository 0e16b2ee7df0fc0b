"""Which rules does an event start, and why do the others not apply?

The engine is pure: it reads the event and the compiled rules and answers
with the matching rules plus a reason for every rule that did not match, so
an event that starts nothing is recorded as ``ignored`` with an explanation.
The service's own GitOps commits are recognised first (loop prevention): a
push made only of bot commits matches nothing, whatever the rules say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops.loop_prevention import is_bot_commit
from triggers.event import Event, PushData
from triggers.rules.rule import Rule


@dataclass(frozen=True)
class Evaluation:
    matched: tuple[Rule, ...]
    reasons: dict[str, str] = field(default_factory=dict)

    def ignored_reason(self) -> str:
        if not self.reasons:
            return "no rule listens to this event type"
        return "; ".join(f"{name}: {reason}" for name, reason in self.reasons.items())


def action_context(
    event: Event, events: Sequence[Event] = (), outputs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What templates and expressions see: the event's fields, the coalesced ``events`` and ``outputs``.

    ``event`` is the latest of the coalesced events; ``events`` lists all of
    them (just ``event`` without debounce); ``outputs`` holds what the previous
    action of a chain produced (a finished run's step outputs, a commit).
    """
    return {
        **event.template_context(),
        "events": [e.template_context() for e in (events or (event,))],
        "outputs": dict(outputs or {}),
    }


class RulesEngine:
    def __init__(self, rules: Sequence[Rule], *, bot_email: str) -> None:
        self.rules = {rule.name: rule for rule in rules}
        self._bot_email = bot_email

    def is_own_push(self, event: Event) -> bool:
        """A push whose every commit is the bot's own GitOps write-back."""
        push = event.data
        return (
            isinstance(push, PushData)
            and bool(push.commits)
            and all(is_bot_commit(c.author_email, c.message, bot_email=self._bot_email) for c in push.commits)
        )

    def evaluate(self, event: Event) -> Evaluation:
        """Rules the event matches; a ``PermanentError`` from a filter (e.g. ``on_truncated: fail``) propagates."""
        if self.is_own_push(event):
            return Evaluation((), {"loop-prevention": "every commit is this service's own GitOps write-back"})
        context = action_context(event)
        matched, reasons = [], {}
        for rule in self.rules.values():
            if not rule.listens_to(event):
                continue
            reason = rule.filter.mismatch(event, context)
            if reason is None:
                matched.append(rule)
            else:
                reasons[rule.name] = reason
        return Evaluation(tuple(matched), reasons)
