"""Checking out the ML code: at a given commit, or at a branch head resolved when the run needs the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from git import Repo

from core.errors import PermanentError
from tests.infra.git_remote import GitRemoteFactory
from workflows.steps.checkout import checkout_revision, resolve_head


@pytest.fixture
def remote(git_remote_factory: GitRemoteFactory) -> Path:
    return git_remote_factory.create("churn-model", initial_files={"configs/xgb_model_params.yaml": "max_depth: 4\n"})


def _push_a_commit(remote: Path, tmp_path: Path) -> str:
    clone = Repo.clone_from(str(remote), tmp_path / "author")
    (Path(clone.working_dir) / "configs" / "xgb_model_params.yaml").write_text("max_depth: 5\n")
    clone.index.add(["configs/xgb_model_params.yaml"])
    clone.index.commit("deeper trees")
    clone.remote().push("main")
    return clone.head.commit.hexsha


def test_without_a_commit_the_branch_head_of_the_moment_is_trained(remote: Path, tmp_path: Path) -> None:
    first_head = Repo(remote).head.commit.hexsha
    path, sha = checkout_revision(f"file://{remote}", None, "main", str(tmp_path / "work"))
    assert sha == first_head and Repo(path).head.commit.hexsha == first_head

    new_head = _push_a_commit(remote, tmp_path)
    path, sha = checkout_revision(f"file://{remote}", None, "main", str(tmp_path / "work"))

    assert sha == new_head != first_head
    assert (path / "configs" / "xgb_model_params.yaml").read_text() == "max_depth: 5\n"


def test_a_short_commit_is_recorded_as_its_full_sha(remote: Path, tmp_path: Path) -> None:
    full = Repo(remote).head.commit.hexsha
    _, sha = checkout_revision(str(remote), full[:10], "main", str(tmp_path))
    assert sha == full


def test_a_missing_branch_is_a_permanent_error(remote: Path) -> None:
    with pytest.raises(PermanentError, match="branch release does not exist"):
        resolve_head(str(remote), "release")
