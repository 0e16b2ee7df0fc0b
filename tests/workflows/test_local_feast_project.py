"""The local backend's Feast project comes from its configuration or from the Feast repository it applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import PermanentError
from workflows.local.backend import feast_project
from workflows.settings import LocalSettings


def feast_repo(root: Path, config: str) -> Path:
    root.mkdir()
    (root / "feature_store.yaml").write_text(config)
    return root


def test_the_configured_project_wins_over_the_feast_repositorys(tmp_path: Path) -> None:
    repo = feast_repo(tmp_path / "features", "project: cards\nprovider: local\n")
    assert feast_project(LocalSettings(feature_repo_source=str(repo), feast_project="fraud")) == "fraud"


def test_without_configuration_the_feast_repository_names_the_project(tmp_path: Path) -> None:
    repo = feast_repo(tmp_path / "features", "project: cards\nprovider: local\n")
    assert feast_project(LocalSettings(feature_repo_source=str(repo))) == "cards"


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (None, "cannot be read"),
        ("provider: local\n", r"names no valid project \(None\)"),
        ("project: ../cards\n", r"names no valid project \('\.\./cards'\)"),
        ("project: [unclosed\n", "cannot be read"),
    ],
)
def test_a_project_neither_configured_nor_named_is_a_clear_error(
    tmp_path: Path, config: str | None, problem: str
) -> None:
    repo = feast_repo(tmp_path / "features", config) if config is not None else tmp_path / "absent"
    with pytest.raises(PermanentError, match=rf"workflows\.local\.feast_project is not set and .*{problem}"):
        feast_project(LocalSettings(feature_repo_source=str(repo)))
