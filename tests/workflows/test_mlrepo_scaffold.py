"""``mlops-gitops init ml-repo``: a working repository in the template's layout, its own tests passing."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from devtools.datagen import customer_snapshot
from mlops_gitops.cli import app
from workflows.mlrepo.contract import load_contract

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYOUT = (
    "mlops.yaml",
    "configs/base.yaml",
    "configs/xgb_model_params.yaml",
    "src/etl/transform.py",
    "src/training/xgb_model.py",
    "src/training/xgb_train.py",
    "feature_repo/churn.py",
    "tests/test_xgb_model.py",
    "Dockerfile",
    "pyproject.toml",
)

runner = CliRunner()


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ml") / "churn-ml"
    result = runner.invoke(
        app, ["init", "ml-repo", str(directory), "--feature-repo", str(REPO_ROOT / "feature_repo"), "--branch", "trunk"]
    )
    assert result.exit_code == 0, result.output
    return directory


def test_the_repository_has_the_template_layout_in_one_commit(scaffold: Path) -> None:
    for path in LAYOUT:
        assert (scaffold / path).is_file(), path
    assert (scaffold / "feature_repo" / "churn.py").read_text() == (REPO_ROOT / "feature_repo" / "churn.py").read_text()
    log = subprocess.run(
        ["git", "-C", str(scaffold), "log", "--format=%an <%ae>|%s", "trunk"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout.strip() == "ML team <ml-team@example.com>|ML repository scaffolded by mlops-gitops"
    status = subprocess.run(
        ["git", "-C", str(scaffold), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_its_contract_names_its_own_feature_service(scaffold: Path) -> None:
    contract = load_contract(scaffold)

    definitions = (scaffold / contract.features.repo / "churn.py").read_text()
    assert f'name="{contract.features.training_service}"' in definitions


def test_its_own_tests_pass(scaffold: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=scaffold,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_the_training_script_runs_on_its_own(scaffold: Path, tmp_path: Path) -> None:
    data = tmp_path / "training_set.parquet"
    customer_snapshot(np.random.default_rng(3), 3_000, date(2026, 11, 2)).to_parquet(data)

    result = subprocess.run(
        [sys.executable, "-m", "src.training.xgb_train", "--data", str(data)],
        cwd=scaffold,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    auc = float(result.stdout.split("hold-out AUC ")[1].split(";")[0])
    assert auc > 0.6
    assert (scaffold / "artifacts" / "model.ubj").stat().st_size > 0


def test_a_directory_with_files_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mlops.yaml").write_text("mine\n")

    result = runner.invoke(app, ["init", "ml-repo", str(tmp_path), "--feature-repo", str(REPO_ROOT / "feature_repo")])

    assert result.exit_code != 0
    assert "already has" in str(result.exception) and "mlops.yaml" in str(result.exception)
    assert (tmp_path / "mlops.yaml").read_text() == "mine\n"
