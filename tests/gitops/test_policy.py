"""Promotion policy: registry stages and aliases become promotions, demotions become rollbacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from core.errors import PermanentError
from gitops import lineage
from gitops.policy import Promote, PromotionPolicy, RegistryTransition, Rollback
from gitops.registry import TRAINING_COMMIT_TAG, MlflowModelRegistry
from gitops.settings import GitOpsSettings, PolicySettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import RegisteredModel, deployed_literal, remote_log

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


def move_stage(client: MlflowClient, version: int, stage: str) -> RegistryTransition:
    """Transition the version in the real registry; the change as the registry watcher reports it."""
    before = client.get_model_version("churn-xgb", str(version)).current_stage
    after = client.transition_model_version_stage("churn-xgb", str(version), stage).current_stage
    return RegistryTransition(
        model_name="churn-xgb",
        version=str(version),
        from_stage=before,
        to_stage=after,
        trigger_event_id=f"stage-{version}-{after}",
    )


def test_promotions_then_demotions_roll_back_step_by_step(
    make_settings: Callable[..., GitOpsSettings],
    gitops_remote: Path,
    registered_model: RegisteredModel,
    client: MlflowClient,
) -> None:
    writer = GitOpsWriter(make_settings(), registered_model.registry)
    apply = lambda change: policy.apply(change, writer, registered_model.registry)  # noqa: E731
    for version in (14, 15, 16):
        apply(move_stage(client, version, "Staging"))
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "16"

    (rollback,) = apply(move_stage(client, 16, "Archived"))

    head = remote_log(gitops_remote)[-1]
    trailers = lineage.parse_trailers(head.message)
    assert rollback.sha == head.sha and rollback.version == "15"
    assert head.message.startswith("Roll back churn-xgb in staging to version 15\n\nchurn-xgb version 16 left stage")
    assert (trailers["Model-Version"], trailers["Rollback-Of"]) == ("15", "16")
    assert trailers["MLflow-Run-Id"] == registered_model.run_ids["15"]
    assert trailers["Trigger-Event-Id"] == "stage-16-Archived"
    assert deployed_literal(gitops_remote, "MODEL_URI") == "models:/churn-xgb/15"
    assert deployed_literal(gitops_remote, "MODEL_RUN_ID") == registered_model.run_ids["15"]

    (not_deployed,) = apply(move_stage(client, 14, "Archived"))
    assert (not_deployed.sha, not_deployed.version) == (None, "15"), "14 is not running: nothing to roll back"

    (second,) = apply(move_stage(client, 15, "None"))
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
        change = RegistryTransition(model_name="churn-xgb", version=version, alias="champion", trigger_event_id=version)
        policy.apply(change, writer, registered_model.registry)
    client.delete_registered_model_alias("churn-xgb", "champion")

    removal = RegistryTransition(
        model_name="churn-xgb", version=None, alias="champion", alias_removed=True, trigger_event_id="alias-deleted"
    )
    (result,) = policy.apply(removal, writer, registered_model.registry)

    assert result.version == "9"
    assert deployed_literal(gitops_remote, "MODEL_VERSION", "production") == "9"
    assert deployed_literal(gitops_remote, "MODEL_VERSION", "staging") == "0"


def test_a_transition_of_an_unregistered_version_is_refused(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path, registered_model: RegisteredModel
) -> None:
    before = remote_log(gitops_remote)
    writer = GitOpsWriter(make_settings(), registered_model.registry)

    with pytest.raises(PermanentError, match="does not exist in the model registry"):
        policy.apply(transition(version="404", to_stage="Production"), writer, registered_model.registry)

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
        staged = client.transition_model_version_stage(name, version, "Staging")
        change = RegistryTransition(
            model_name=name, version=version, from_stage="None", to_stage=staged.current_stage, trigger_event_id=version
        )
        (result,) = policy.apply(change, writer, registry)
        head = remote_log(gitops_remote)[-1]
        assert result.sha == head.sha
        trailers[version] = lineage.parse_trailers(head.message)

    registered = registry.get_version(name, "1")
    assert registered is not None and registered.training_commit == training_commit
    assert trailers["1"]["Training-Commit"] == training_commit
    assert trailers["1"]["Model-Name"] == name
    assert "Training-Commit" not in trailers["2"]
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "2"
