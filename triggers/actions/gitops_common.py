"""Shared ground of the two GitOps action kinds: environments from the policy, commits as outcomes.

A GitOps action either names its environment or leaves it to
``gitops.policy.PromotionPolicy``, which maps the event's registry transition
(stage moved, alias set or removed) to environments. Both kinds report the
commits they wrote the same way, so a follow-up or a person reads one shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import PermanentError
from gitops.policy import RegistryTransition
from gitops.promotion import CommitResult
from triggers.actions.base import ActionOutcome, ActionStatus
from triggers.event import Event, EventType, ModelChange


def registry_transition(event: Event, rule: str) -> RegistryTransition:
    """The policy's view of a model registry event; other events have no transition to map."""
    change = event.data
    if not isinstance(change, ModelChange):
        raise PermanentError(
            f"trigger {rule!r}: the GitOps action has no environment and a {event.type} event has no registry "
            "transition to derive one from; set the action's environment"
        )
    return RegistryTransition(
        model_name=change.model_name,
        version=change.version,
        trigger_event_id=event.id,
        from_stage=change.from_stage,
        to_stage=change.to_stage,
        alias=change.alias,
        alias_removed=event.type == EventType.MODEL_ALIAS_DELETED,
    )


def commits_outcome(results: Sequence[CommitResult]) -> ActionOutcome:
    """Outcome of GitOps writes; a write that found the repo already at its target has no SHA."""
    if not results:
        return ActionOutcome(ActionStatus.SKIPPED, "", "the promotion policy maps this transition to no environment")
    commits = [result.model_dump(mode="json") for result in results]
    target = ",".join(result.sha or "" for result in results)
    message = "; ".join(
        f"{r.environment}: {'commit ' + r.sha if r.sha else 'already at the target'} (version {r.version})"
        for r in results
    )
    return ActionOutcome(
        ActionStatus.SUCCEEDED, target, message, outputs={"commits": commits}, detail={"commits": commits}
    )
