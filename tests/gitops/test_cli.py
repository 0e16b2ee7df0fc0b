"""``mlops-gitops gitops init``, ``promote`` and ``rollback`` from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from core.errors import PermanentError
from mlops_gitops.cli import app
from tests.gitops.conftest import RegisteredModel, deployed_literal, remote_log

runner = CliRunner()


def test_init_creates_the_repo(tmp_path: Path) -> None:
    result = runner.invoke(app, ["gitops", "init", str(tmp_path / "repo"), "--repo-url", "https://git.test/ml/g.git"])

    assert result.exit_code == 0, result.output
    assert "created 14 files" in result.output
    assert "https://git.test/ml/g.git" in (tmp_path / "repo" / "argocd" / "application-production.yaml").read_text()


def test_init_takes_the_argo_cd_side_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    scaffold = {"argocd_repo_url": "git://127.0.0.1:9418/g.git", "destination_server": "https://127.0.0.1:6443"}
    config.write_text(yaml.safe_dump({"gitops": {"branch": "deploy", "scaffold": scaffold | {"autoscaler": False}}}))

    result = runner.invoke(app, ["gitops", "init", str(tmp_path / "repo"), "--config", str(config)])

    assert result.exit_code == 0, result.output
    application = yaml.safe_load((tmp_path / "repo" / "argocd" / "application-staging.yaml").read_text())
    assert application["spec"]["source"]["repoURL"] == "git://127.0.0.1:9418/g.git"
    assert application["spec"]["source"]["targetRevision"] == "deploy"
    assert application["spec"]["destination"]["server"] == "https://127.0.0.1:6443"
    overlay = yaml.safe_load((tmp_path / "repo" / "overlays" / "staging" / "kustomization.yaml").read_text())
    assert overlay["components"] == ["../../components/without-autoscaler"]


def test_init_refuses_a_repo_url_that_is_no_git_url(tmp_path: Path) -> None:
    result = runner.invoke(app, ["gitops", "init", str(tmp_path / "repo"), "--repo-url", "a b"])

    assert result.exit_code == 2
    assert "not a git URL" in result.output
    assert not (tmp_path / "repo").exists()


def test_init_refuses_a_bad_model_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["gitops", "init", str(tmp_path / "repo"), "--model-name", "a b"])

    assert result.exit_code == 2
    assert "not a registered model name" in result.output
    assert not (tmp_path / "repo").exists()


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
