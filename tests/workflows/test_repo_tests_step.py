"""``retrain`` runs the repository's own tests at the pushed commit first; failing ones end the run before training."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.workflows.ml_repos import push_change, scaffolded_remote
from workflows.backend import RunPhase
from workflows.local import LocalBackend
from workflows.params import RetrainParams
from workflows.settings import LocalSettings
from workflows.steps.contract import StepRequest, StepRuntime
from workflows.steps.repo_tests import RepoTestsFailedError, run_repo_tests

FAILING_TEST = """\
def test_churn_needs_a_customer():
    assert 1 + 1 == 3, "the rules changed"


def test_still_fine():
    assert True
"""
ENVIRONMENT_TEST = """\
import os


def test_the_service_settings_stay_out_of_the_tests():
    assert not [key for key in os.environ if key.startswith("MLOPS_GITOPS_")]
"""


@pytest.fixture
def ml_repo(tmp_path: Path) -> tuple[Path, Path, str]:
    return scaffolded_remote(tmp_path / "remotes")


def request(tmp_path: Path, bare: Path, commit: str, **params: object) -> StepRequest[RetrainParams]:
    runtime = StepRuntime(
        work_dir=str(tmp_path / "work"),
        feature_store_dir=str(tmp_path / "store"),
        feature_repo_source=str(tmp_path / "unused"),
        feast_project="churn",
        mlflow_tracking_uri="http://127.0.0.1:1",
    )
    retrain = RetrainParams(model_name="churn-xgb", repo_url=str(bare), commit=commit, **params)  # type: ignore[arg-type]
    return StepRequest[RetrainParams](params=retrain, runtime=runtime, workflow_name="retrain-tests")


def test_the_scaffold_tests_pass_at_its_commit(tmp_path: Path, ml_repo: tuple[Path, Path, str]) -> None:
    bare, _, commit = ml_repo

    output = run_repo_tests(request(tmp_path, bare, commit))

    assert output.ran and output.commit == commit
    assert "4 passed" in output.summary


def test_failing_tests_are_named_in_a_permanent_error(tmp_path: Path, ml_repo: tuple[Path, Path, str]) -> None:
    bare, clone, _ = ml_repo
    commit = push_change(bare, clone, {"tests/test_rules.py": FAILING_TEST}, "a rule that does not hold")

    with pytest.raises(RepoTestsFailedError) as caught:
        run_repo_tests(request(tmp_path, bare, commit))

    assert caught.value.failed == ["tests/test_rules.py::test_churn_needs_a_customer"]
    assert str(caught.value).startswith(
        f"the repository's tests failed at {commit[:12]}: tests/test_rules.py::test_churn_needs_a_customer; "
        "nothing was trained"
    )
    assert "the rules changed" in str(caught.value)


def test_a_rule_may_turn_the_tests_off(tmp_path: Path, ml_repo: tuple[Path, Path, str]) -> None:
    bare, clone, _ = ml_repo
    commit = push_change(bare, clone, {"tests/test_rules.py": FAILING_TEST}, "a rule that does not hold")

    output = run_repo_tests(request(tmp_path, bare, commit, run_tests=False))

    assert not output.ran and "run_tests is off" in output.summary


def test_the_service_settings_are_not_passed_to_the_tests(
    tmp_path: Path, ml_repo: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, clone, _ = ml_repo
    commit = push_change(bare, clone, {"tests/test_environment.py": ENVIRONMENT_TEST}, "check the environment")
    monkeypatch.setenv("MLOPS_GITOPS_GITOPS__TOKEN", "secret")

    output = run_repo_tests(request(tmp_path, bare, commit))

    assert "5 passed" in output.summary


def test_a_failing_test_ends_the_local_run_before_training(tmp_path: Path, ml_repo: tuple[Path, Path, str]) -> None:
    bare, clone, _ = ml_repo
    commit = push_change(bare, clone, {"tests/test_rules.py": FAILING_TEST}, "a rule that does not hold")
    settings = LocalSettings(work_dir=str(tmp_path / "local"), mlflow_tracking_uri="http://127.0.0.1:1")
    backend = LocalBackend(settings, code_repos=[str(bare)])
    try:
        backend.submit(
            "retrain",
            RetrainParams(model_name="churn-xgb", repo_url=str(bare), commit=commit),
            run_name="retrain-red",
            labels={},
        )
        deadline = time.monotonic() + 600
        while not (status := backend.status("retrain-red")).finished and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        backend.close()

    assert status.phase == RunPhase.FAILED
    assert status.message.startswith("step repo-tests failed: RepoTestsFailedError: the repository's tests failed at")
    assert "tests/test_rules.py::test_churn_needs_a_customer" in status.message
    assert set(status.outputs) == set(), "no step after the tests ran"
