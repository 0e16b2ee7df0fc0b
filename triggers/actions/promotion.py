"""Action kind ``gitops-promotion``: deploy a model version by a commit to the GitOps repo.

The environment is the one the action names, or the ones the promotion
policy maps the event's stage or alias to. Model name and version are
templates, so the same kind serves a registry event (``{{ data.version }}``)
and a follow-up on a training run (``{{ outputs.register.version }}``). The
writer looks the version up in the model registry once, before anything is
written (refusing a version it does not know, filling in the run id and
training commit), refuses stale writes and turns a repeat into a no-op, which
is what makes a retried promotion safe.
"""

from __future__ import annotations

from typing import Literal

from gitops.policy import Promote, PromotionPolicy
from gitops.promotion import PromotionRequest
from gitops.registry import registry_uri
from gitops.writer import GitOpsWriter
from triggers.actions.base import ActionKind, ActionOutcome, ActionRequest
from triggers.actions.gitops_common import commits_outcome, registry_transition
from triggers.rules.config import ActionSpec, TemplateText


class PromotionActionSpec(ActionSpec):
    kind: Literal["gitops-promotion"] = "gitops-promotion"
    environment: TemplateText | None = None
    model_name: TemplateText = "{{ data.model_name }}"
    version: TemplateText = "{{ data.version }}"
    training_commit: TemplateText | None = None


class GitOpsPromotionAction(ActionKind[PromotionActionSpec]):
    kind = "gitops-promotion"
    spec_model = PromotionActionSpec

    def __init__(self, writer: GitOpsWriter, policy: PromotionPolicy) -> None:
        self._writer = writer
        self._policy = policy

    def perform(self, spec: PromotionActionSpec, request: ActionRequest) -> ActionOutcome:
        if spec.environment is not None:
            environments = [request.render(spec.environment, "environment")]
        else:
            decisions = self._policy.decide(registry_transition(request.event, request.rule))
            environments = [d.environment for d in decisions if isinstance(d, Promote)]
        if not environments:
            return commits_outcome([])
        model_name = request.render(spec.model_name, "model_name")
        version = request.render(spec.version, "version")
        training_commit = request.render(spec.training_commit, "training_commit") if spec.training_commit else None
        results = [
            self._writer.promote(
                PromotionRequest.checked(
                    model_name=model_name,
                    version=version,
                    model_uri=registry_uri(model_name, version),
                    environment=environment,
                    trigger_event_id=request.event.id,
                    training_commit=training_commit,
                )
            )
            for environment in environments
        ]
        return commits_outcome(results)
