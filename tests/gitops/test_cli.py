"""``mlops-gitops gitops init``, ``promote`` and ``rollback`` from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from core.errors import PermanentError
from mlops_gitops.cli import app
from tests.gitops.conftest import RegisteredModel, deployed_literal, remote_log

runner = CliRunner()


SERVED = ["--model-name", "fraud-xgb", "--feature-service", "fraud_model", "--entity-key", "card_id"]


def base_config_map(repo: Path) -> dict[str, str]:
    kustomization = yaml.safe_load((repo / "base" / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    return dict(literal.split("=", 1) for literal in generator["literals"])


def test_init_creates_the_repo_for_the_model_it_is_given(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = runner.invoke(app, ["gitops", "init", str(repo), "--repo-url", "https://git.test/ml/g.git", *SERVED])

    assert result.exit_code == 0, result.output
    assert "created 14 files" in result.output
    assert "https://git.test/ml/g.git" in (repo / "argocd" / "application-production.yaml").read_text()
    literals = base_config_map(repo)
    assert (literals["MODEL_NAME"], literals["MODEL_URI"]) == ("fraud-xgb", "models:/fraud-xgb/0")
    assert (literals["FEAST_FEATURE_SERVICE"], literals["ENTITY_KEY"]) == ("fraud_model", "card_id")


def test_init_takes_the_argo_cd_side_and_the_model_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    scaffold = {"argocd_repo_url": "git://127.0.0.1:9418/g.git", "destination_server": "https://127.0.0.1:6443"}
    served = {"model_name": "fraud-xgb", "feature_service": "fraud_model", "entity_key": "card_id"}
    document = {"gitops": {"branch": "deploy", "scaffold": scaffold | served | {"autoscaler": False}}}
    config.write_text(yaml.safe_dump(document))

    result = runner.invoke(
        app, ["gitops", "init", str(tmp_path / "repo"), "--config", str(config), "--entity-key", "account_id"]
    )

    assert result.exit_code == 0, result.output
    application = yaml.safe_load((tmp_path / "repo" / "argocd" / "application-staging.yaml").read_text())
    assert application["spec"]["source"]["repoURL"] == "git://127.0.0.1:9418/g.git"
    assert application["spec"]["source"]["targetRevision"] == "deploy"
    assert application["spec"]["destination"]["server"] == "https://127.0.0.1:6443"
    overlay = yaml.safe_load((tmp_path / "repo" / "overlays" / "staging" / "kustomization.yaml").read_text())
    assert overlay["components"] == ["../../components/without-autoscaler"]
    literals = base_config_map(tmp_path / "repo")
    assert (literals["MODEL_NAME"], literals["FEAST_FEATURE_SERVICE"]) == ("fraud-xgb", "fraud_model")
    assert literals["ENTITY_KEY"] == "account_id", "an option wins over the config"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--repo-url", "a b", *SERVED], "not a git URL"),
        (["--model-name", "a b", *SERVED[2:]], "'a b': String should match pattern"),
        ([*SERVED[:2], "--feature-service", "fraud-model", *SERVED[4:]], "--feature-service"),
        ([*SERVED[:4], "--entity-key", "card id"], "--entity-key"),
    ],
)
def test_init_refuses_a_value_that_is_not_what_its_option_names(
    tmp_path: Path, args: list[str], complaint: str
) -> None:
    result = runner.invoke(app, ["gitops", "init", str(tmp_path / "repo"), *args])

    assert result.exit_code == 2
    assert complaint in result.output
    assert not (tmp_path / "repo").exists()


def test_init_without_the_served_model_says_what_to_give_and_writes_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "gitops", "init", str(repo), "--model-name", "fraud-xgb"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert "feature_service, entity_key: give --feature-service (or gitops.scaffold.feature_service)" in result.stderr
    assert not repo.exists()


@pytest.fixture
def config_file(tmp_path: Path, gitops_remote: Path, mlflow_server: Any) -> Path:
    path = tmp_path / "config.yaml"
    settings = {
        "mlflow": {"tracking_uri": mlflow_server.tracking_uri},
        "gitops": {"repo_url": str(gitops_remote), "work_dir": str(tmp_path / "checkout")},
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def test_promote_and_rollback_commands(
    config_file: Path, gitops_remote: Path, registered_model: RegisteredModel
) -> None:
    for version in ("11", "12"):
        promoted = runner.invoke(app, ["promote", "churn-xgb", version, "--env", "production", "-c", str(config_file)])
        assert promoted.exit_code == 0, promoted.output
        assert f"production -> version {version}: commit" in promoted.output

    rolled_back = runner.invoke(
        app, ["rollback", "churn-xgb", "--env", "production", "--reason", "latency regression", "-c", str(config_file)]
    )

    assert rolled_back.exit_code == 0, rolled_back.output
    assert "production -> version 11" in rolled_back.output
    head = remote_log(gitops_remote)[-1]
    assert "latency regression" in head.message
    assert "Trigger-Event-Id: cli-" in head.message
    assert deployed_literal(gitops_remote, "MODEL_VERSION", "production") == "11"


def test_promoting_an_unregistered_version_is_refused(config_file: Path, gitops_remote: Path) -> None:
    before = remote_log(gitops_remote)

    result = runner.invoke(app, ["promote", "churn-xgb", "999", "--env", "staging", "-c", str(config_file)])

    assert isinstance(result.exception, PermanentError)
    assert "does not exist" in str(result.exception)
    assert remote_log(gitops_remote) == before
