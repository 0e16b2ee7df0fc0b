"""Promotion policy: registry stages and aliases become promotions, demotions become rollbacks.

The decisions are checked on their own; carried out, they go through the GitOps action kinds the service runs
(``gitops-rollback``, then ``gitops-promotion``, as the example rules order them) against a real GitOps remote and
a real MLflow registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from core.errors import PermanentError
from gitops import lineage
from gitops.mlflow_registry import MlflowModelRegistry
from gitops.policy import Promote, PromotionPolicy, RegistryTransition, Rollback
from gitops.promotion import CommitResult
from gitops.registry import TRAINING_COMMIT_TAG
from gitops.settings import GitOpsSettings, PolicySettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import RegisteredModel, deployed_literal, remote_log
from triggers.actions.base import ActionRequest
from triggers.actions.promotion import GitOpsPromotionAction, PromotionActionSpec
from triggers.actions.rollback import GitOpsRollbackAction, RollbackActionSpec
from triggers.event import Event, EventType, ModelChange
from triggers.rules.engine import action_context

policy = PromotionPolicy(PolicySettings())


def transition(**fields: Any) -> RegistryTransition:
    return RegistryTransition(model_name="churn-xgb", trigger_event_id="e-1", **{"version": "3"} | fields)


@pytest.mark.parametrize(
    ("change", "decisions"),
    [
        (transition(from_stage="None", to_stage="Staging"), [Promote("staging")]),
        (transition(from_stage="Staging", to_stage="Production"), [Promote("production")]),
        (transition(to_stage="production"), [Promote("production")]),
        (transition(alias="champion"), [Promote("production")]),
        (transition(alias="challenger"), [Promote("staging")]),
        (transition(alias="nightly"), []),
        (transition(from_stage="None", to_stage="Archived"), []),
        (transition(from_stage="Staging", to_stage="Staging"), [Promote("staging")]),
    ],
)
def test_promotions(change: RegistryTransition, decisions: list[Promote]) -> None:
    assert policy.decide(change) == decisions


def test_demotion_and_archival_roll_back_the_stage_they_leave() -> None:
    (archived,) = policy.decide(transition(from_stage="Production", to_stage="Archived"))
    demoted = policy.decide(transition(from_stage="Production", to_stage="Staging"))

    assert isinstance(archived, Rollback) and archived.environment == "production"
    assert "left stage Production (now Archived)" in archived.reason
    assert [type(d) for d in demoted] == [Rollback, Promote]
    assert [d.environment for d in demoted] == ["production", "staging"]


def test_alias_removal_rolls_back_and_the_mapping_is_configurable() -> None:
    custom = PromotionPolicy(PolicySettings(stages={"Production": "prod-eu"}, aliases={"live": "prod-eu"}))

    (removed,) = policy.decide(transition(alias="champion", version=None, alias_removed=True))
    assert isinstance(removed, Rollback) and removed.environment == "production"
    assert custom.decide(transition(alias="live")) == [Promote("prod-eu")]
    assert custom.decide(transition(to_stage="Production")) == [Promote("prod-eu")]
    assert custom.decide(transition(alias="champion")) == []


@pytest.fixture
def client(mlflow_server: Any) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server.tracking_uri, registry_uri=mlflow_server.tracking_uri)


def registry_event(event_type: EventType, change: ModelChange) -> Event:
    return Event(
        source="mlflow/registry",
        type=event_type,
        subject=f"{change.model_name}/{change.version}",
        data=change,
        idempotency_key=f"{event_type}:{change.model_name}:{change.version}:{change.to_stage}:{change.alias}",
    )


def move_stage(client: MlflowClient, version: int, stage: str, name: str = "churn-xgb") -> Event:
    """Transition the version in the real registry; the change as the registry watcher reports it."""
    before = client.get_model_version(name, str(version)).current_stage
    after = client.transition_model_version_stage(name, str(version), stage).current_stage
    change = ModelChange(model_name=name, version=str(version), from_stage=before, to_stage=after)
    return registry_event(EventType.MODEL_STAGE_CHANGED, change)


def carry_out(writer: GitOpsWriter, event: Event) -> list[CommitResult]:
    """What the policy decides for a registry event, carried out by the two GitOps action kinds; their commits."""
    request = ActionRequest("registry", f"registry:{event.id}", "action", event, (event,), action_context(event))
    outcomes = [
        GitOpsRollbackAction(writer, policy).perform(RollbackActionSpec(), request),
        GitOpsPromotionAction(writer, policy).perform(PromotionActionSpec(), request),
    ]
    commits = [commit for outcome in outcomes for commit in outcome.outputs.get("commits", [])]
    return [CommitResult.model_validate(commit) for commit in commits]


def test_promotions_then_demotions_roll_back_step_by_step(
    make_settings: Callable[..., GitOpsSettings],
    gitops_remote: Path,
    registered_model: RegisteredModel,
    client: MlflowClient,
) -> None:
    writer = GitOpsWriter(make_settings(), registered_model.registry)
    for version in (14, 15, 16):
        carry_out(writer, move_stage(client, version, "Staging"))
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "16"

    archived = move_stage(client, 16, "Archived")
    (rollback,) = carry_out(writer, archived)

    head = remote_log(gitops_remote)[-1]
    trailers = lineage.parse_trailers(head.message)
    assert rollback.sha == head.sha and rollback.version == "15"
    assert head.message.startswith("Roll back churn-xgb in staging to version 15\n\nchurn-xgb version 16 left stage")
    assert (trailers["Model-Version"], trailers["Rollback-Of"]) == ("15", "16")
    assert trailers["MLflow-Run-Id"] == registered_model.run_ids["15"]
    assert trailers["Trigger-Event-Id"] == archived.id
    assert deployed_literal(gitops_remote, "MODEL_URI") == "models:/churn-xgb/15"
    assert deployed_literal(gitops_remote, "MODEL_RUN_ID") == registered_model.run_ids["15"]

    (not_deployed,) = carry_out(writer, move_stage(client, 14, "Archived"))
    assert (not_deployed.sha, not_deployed.version) == (None, "15"), "14 is not running: nothing to roll back"

    (second,) = carry_out(writer, move_stage(client, 15, "None"))
    assert second.version == "14", "the stack skips 16, which was rolled back already"
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "14"

    with pytest.raises(PermanentError, match="no earlier deployment"):
        writer.rollback("churn-xgb", "staging", reason="again", trigger_event_id="manual")


def test_alias_moves_promote_and_alias_removal_rolls_back(
    make_settings: Callable[..., GitOpsSettings],
    gitops_remote: Path,
    registered_model: RegisteredModel,
    client: MlflowClient,
) -> None:
    writer = GitOpsWriter(make_settings(), registered_model.registry)
    for version in ("9", "10"):
        client.set_registered_model_alias("churn-xgb", "champion", version)
        moved = ModelChange(model_name="churn-xgb", version=version, alias="champion")
        carry_out(writer, registry_event(EventType.MODEL_ALIAS_CHANGED, moved))
    client.delete_registered_model_alias("churn-xgb", "champion")

    removal = ModelChange(model_name="churn-xgb", alias="champion")
    (result,) = carry_out(writer, registry_event(EventType.MODEL_ALIAS_DELETED, removal))

    assert result.version == "9"
    assert deployed_literal(gitops_remote, "MODEL_VERSION", "production") == "9"
    assert deployed_literal(gitops_remote, "MODEL_VERSION", "staging") == "0"


def test_a_transition_of_an_unregistered_version_is_refused(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path, registered_model: RegisteredModel
) -> None:
    before = remote_log(gitops_remote)
    writer = GitOpsWriter(make_settings(), registered_model.registry)

    unregistered = ModelChange(model_name="churn-xgb", version="404", from_stage="Staging", to_stage="Production")
    with pytest.raises(PermanentError, match="does not exist in the model registry"):
        carry_out(writer, registry_event(EventType.MODEL_STAGE_CHANGED, unregistered))

    assert remote_log(gitops_remote) == before


def test_a_stage_change_promotion_carries_the_training_commit_the_registry_recorded(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path, client: MlflowClient, mlflow_server: Any
) -> None:
    name, training_commit = "churn-lineage", "5e1f0c2a9d" * 4
    client.create_registered_model(name)
    experiment = client.create_experiment("gitops-lineage")
    for tag in (training_commit, "main"):  # the second is no commit SHA, so it cannot become a trailer
        run = client.create_run(experiment)
        client.create_model_version(
            name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags={TRAINING_COMMIT_TAG: tag}
        )
    registry = MlflowModelRegistry(mlflow_server.tracking_uri)
    writer = GitOpsWriter(make_settings(), registry)

    trailers = {}
    for version in ("1", "2"):
        (result,) = carry_out(writer, move_stage(client, int(version), "Staging", name))
        head = remote_log(gitops_remote)[-1]
        assert result.sha == head.sha
        trailers[version] = lineage.parse_trailers(head.message)

    registered = registry.get_version(name, "1")
    assert registered is not None and registered.training_commit == training_commit
    assert trailers["1"]["Training-Commit"] == training_commit
    assert trailers["1"]["Model-Name"] == name
    assert "Training-Commit" not in trailers["2"]
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "2"
