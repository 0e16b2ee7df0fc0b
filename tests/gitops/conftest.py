"""Fixtures of the GitOps tests: a bare remote seeded from the packaged template, and registered model versions."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from gitops.checkout import LOG_FORMAT, LoggedCommit, parse_log
from gitops.mlflow_registry import MlflowModelRegistry
from gitops.promotion import PromotionRequest
from gitops.scaffold import init_repo
from gitops.settings import GitOpsSettings
from tests.gitops.repos import BOT, CHURN_SERVER
from tests.infra.git_remote import GitRemoteFactory

MODEL_NAME = "churn-xgb"
VERSIONS = 20


@pytest.fixture
def template_files(tmp_path: Path) -> dict[str, str]:
    """Every file ``gitops init`` creates, by path, for seeding a remote."""
    directory = tmp_path / "template"
    files = init_repo(directory, repo_url="https://git.example.com/ml/gitops.git", author=BOT, scaffold=CHURN_SERVER)
    return {str(path.relative_to(directory)): path.read_text() for path in files}


@pytest.fixture
def gitops_remote(git_remote_factory: GitRemoteFactory, template_files: dict[str, str]) -> Path:
    return git_remote_factory.create("gitops", initial_files=template_files)


_checkouts = itertools.count(1)


@pytest.fixture
def make_settings(tmp_path: Path, gitops_remote: Path) -> Callable[..., GitOpsSettings]:
    """Settings for a writer with its own checkout of ``gitops_remote``; keyword arguments override."""

    def make(**overrides: Any) -> GitOpsSettings:
        fields: dict[str, Any] = {
            "repo_url": str(gitops_remote),
            "work_dir": str(tmp_path / f"checkout-{next(_checkouts)}"),
        }
        return GitOpsSettings.model_validate(fields | overrides)

    return make


def make_request(version: int, environment: str = "staging", **fields: Any) -> PromotionRequest:
    """A promotion of ``churn-xgb`` for writers without a registry; keyword arguments override fields."""
    defaults = {
        "model_name": MODEL_NAME,
        "version": str(version),
        "model_uri": f"models:/{MODEL_NAME}/{version}",
        "environment": environment,
        "run_id": f"{version:032x}",
        "trigger_event_id": f"event-{version}",
    }
    return PromotionRequest(**defaults | fields)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    run_ids: dict[str, str]
    registry: MlflowModelRegistry

    def request(self, version: int, environment: str = "staging", **fields: Any) -> PromotionRequest:
        """A promotion of a version that exists in the registry, with its real run id."""
        return make_request(version, environment, **{"run_id": self.run_ids[str(version)]} | fields)


@pytest.fixture(scope="session")
def registered_model(mlflow_server: Any) -> RegisteredModel:
    """``churn-xgb`` versions 1..20 in the real MLflow registry, each from its own run."""
    client = MlflowClient(tracking_uri=mlflow_server.tracking_uri, registry_uri=mlflow_server.tracking_uri)
    experiment = client.create_experiment("gitops-tests")
    client.create_registered_model(MODEL_NAME)
    run_ids = {}
    for _ in range(VERSIONS):
        run = client.create_run(experiment)
        client.set_terminated(run.info.run_id)
        created = client.create_model_version(
            MODEL_NAME, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, await_creation_for=0
        )
        run_ids[str(created.version)] = run.info.run_id
    return RegisteredModel(MODEL_NAME, run_ids, MlflowModelRegistry(mlflow_server.tracking_uri))


def remote_file(remote: Path, path: str, ref: str = "main") -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "show", f"{ref}:{path}"], capture_output=True, text=True, check=True
    ).stdout


def remote_log(remote: Path, ref: str = "main") -> list[LoggedCommit]:
    """Every commit of ``ref`` on the remote, oldest first."""
    command = ["git", "--git-dir", str(remote), "log", "-z", "--reverse", f"--format={LOG_FORMAT}", ref]
    return parse_log(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def deployed_literal(remote: Path, key: str, environment: str = "staging", ref: str = "main") -> str:
    text = remote_file(remote, f"overlays/{environment}/kustomization.yaml", ref)
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.strip().startswith(f"- {key}="))
