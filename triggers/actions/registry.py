"""The action kinds a rule may name: one line per kind.

``ACTION_KINDS`` lists the classes, so the rules file can be validated
(``config check``, start-up) without connecting to a workflow backend or a
GitOps repo; ``build_action_kinds`` makes the working instances once those
adapters exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops.policy import PromotionPolicy
from gitops.writer import GitOpsWriter
from triggers.actions.base import ActionKind
from triggers.actions.promotion import GitOpsPromotionAction
from triggers.actions.rollback import GitOpsRollbackAction
from triggers.actions.workflow import WorkflowPipelineAction
from triggers.rules.config import ActionSpec
from workflows.backend import WorkflowBackend

ActionKinds = Mapping[str, ActionKind[Any]]

ACTION_KINDS: tuple[type[ActionKind[Any]], ...] = (WorkflowPipelineAction, GitOpsPromotionAction, GitOpsRollbackAction)

ACTION_SPECS: dict[str, type[ActionSpec]] = {kind.kind: kind.spec_model for kind in ACTION_KINDS}


def build_action_kinds(
    *,
    backend: WorkflowBackend,
    writer: GitOpsWriter,
    policy: PromotionPolicy,
) -> dict[str, ActionKind[Any]]:
    kinds: list[ActionKind[Any]] = [
        WorkflowPipelineAction(backend),
        GitOpsPromotionAction(writer, policy),
        GitOpsRollbackAction(writer, policy),
    ]
    return {kind.kind: kind for kind in kinds}
