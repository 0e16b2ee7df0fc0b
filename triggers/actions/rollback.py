"""Action kind ``gitops-rollback``: put an environment back on its previous model version.

Used when a version is demoted, archived or loses its alias. The writer finds
the previous deployment in the GitOps repo's own lineage trailers and, given
the demoted version, does nothing unless that version is the one deployed: a
late demotion of an old version never rolls back its successor. Like a
promotion, a repeat finds the repo already there and commits nothing.
"""

from __future__ import annotations

from typing import Literal

from gitops.policy import PromotionPolicy, Rollback
from gitops.writer import GitOpsWriter
from triggers.actions.base import ActionKind, ActionOutcome, ActionRequest
from triggers.actions.gitops_common import commits_outcome, registry_transition
from triggers.event import ModelChange
from triggers.rules.config import ActionSpec, TemplateText


class RollbackActionSpec(ActionSpec):
    kind: Literal["gitops-rollback"] = "gitops-rollback"
    environment: TemplateText | None = None
    model_name: TemplateText = "{{ data.model_name }}"
    reason: TemplateText = "{{ type }} of {{ data.model_name }} ({{ subject }})"


class GitOpsRollbackAction(ActionKind[RollbackActionSpec]):
    kind = "gitops-rollback"
    spec_model = RollbackActionSpec

    def __init__(self, writer: GitOpsWriter, policy: PromotionPolicy) -> None:
        self._writer = writer
        self._policy = policy

    def perform(self, spec: RollbackActionSpec, request: ActionRequest) -> ActionOutcome:
        if spec.environment is not None:
            targets = [(request.render(spec.environment, "environment"), request.render(spec.reason, "reason"))]
        else:
            decisions = self._policy.decide(registry_transition(request.event, request.rule))
            targets = [(d.environment, d.reason) for d in decisions if isinstance(d, Rollback)]
        change = request.event.data
        demoted = change.version if isinstance(change, ModelChange) else None
        model_name = request.render(spec.model_name, "model_name")
        results = [
            self._writer.rollback(
                model_name, environment, reason=reason, trigger_event_id=request.event.id, only_if_deployed=demoted
            )
            for environment, reason in targets
        ]
        return commits_outcome(results)
