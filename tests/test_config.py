"""The config file: the printed example is complete and valid, and bad files fail with one line per problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from ruamel.yaml import YAML
from typer.testing import CliRunner

from mlops_gitops.cli import app
from mlops_gitops.cli.config_cmd import example_config
from mlops_gitops.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def settings_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        paths.append(f"{prefix}{name}")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            paths += settings_paths(field.annotation, f"{prefix}{name}.")
    return paths


def has_path(document: dict[str, Any], path: str) -> bool:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_the_example_names_every_setting_and_is_valid(tmp_path: Path) -> None:
    example = example_config()
    document = yaml.safe_load(example)
    missing = [p for p in settings_paths(Settings) if not has_path(document, p)]
    # The rules are printed inline; their other home, a file, is named in the comment beside them.
    assert missing == ["rules.path"], f"config.example.yaml lacks {missing}"
    assert "`path: rules.yaml`" in example
    config = tmp_path / "config.yaml"
    config.write_text(example)
    assert load_settings(config).ledger.url.startswith("sqlite")


def test_config_check_accepts_the_example_as_printed(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(example_config())
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "6 trigger rules in rules.inline" in result.output


def test_config_check_reads_rules_from_a_file_in_place_of_inline(tmp_path: Path) -> None:
    yaml12 = YAML(typ="safe")  # as the service reads both files: ``on:`` is a key, not a boolean
    document = yaml12.load(example_config())
    yaml12.dump(document["rules"]["inline"], tmp_path / "rules.yaml")
    document["rules"] = {"path": str(tmp_path / "rules.yaml")}
    config = tmp_path / "config.yaml"
    yaml12.dump(document, config)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"trigger rules in {tmp_path / 'rules.yaml'}" in result.output


def test_config_check_lists_each_problem_by_field_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("ledger:\n  urll: sqlite:///x.db\nserver:\n  port: 0\n")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2
    assert "ledger.urll: unknown setting" in result.output
    assert "server.port: Input should be greater than or equal to 1" in result.output


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("ledger:\n  url: sqlite:///from-file.db\n  sqlite_synchronous: NORMAL\n")
    monkeypatch.setenv("MLOPS_GITOPS_LEDGER__URL", "sqlite:///from-env.db")
    settings = load_settings(config)
    assert settings.ledger.url == "sqlite:///from-env.db"
    assert settings.ledger.sqlite_synchronous == "NORMAL"


def test_a_broken_yaml_file_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("ledger:\n  url: [unclosed\n")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2
    assert "line" in result.output and "not valid YAML" in result.output


def test_an_unreachable_ledger_is_one_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("ledger:\n  url: postgresql+psycopg://nobody@127.0.0.1:1/none\n")
    done = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "events", "list", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ledger database unreachable")
    assert "Traceback" not in done.stderr
