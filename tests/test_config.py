"""The config file: the printed example is complete and valid, and bad files fail with one line per problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from mlops_gitops.cli import app
from mlops_gitops.cli.config_cmd import EXAMPLE
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
    document = yaml.safe_load(EXAMPLE.read_text())
    missing = [p for p in settings_paths(Settings) if not has_path(document, p)]
    assert missing == [], f"config.example.yaml lacks {missing}"
    config = tmp_path / "config.yaml"
    config.write_text(EXAMPLE.read_text())
    assert load_settings(config).ledger.url.startswith("sqlite")


def test_config_check_accepts_the_example_with_the_example_rules(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(EXAMPLE.read_text().replace("path: rules.yaml", f"path: {REPO_ROOT / 'examples' / 'rules.yaml'}"))
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "trigger rules" in result.output


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


def settings_models(annotation: Any, seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """Every pydantic model a settings annotation can hold, through lists, dicts, unions and ``Annotated``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            seen.add(annotation)
            for field in annotation.model_fields.values():
                settings_models(field.annotation, seen)
        return seen
    for argument in get_args(annotation):
        settings_models(argument, seen)
    return seen


def test_every_settings_model_refuses_unknown_keys() -> None:
    models = settings_models(Settings, set())
    assert len(models) > 15
    lenient = sorted(m.__name__ for m in models if m.model_config.get("extra") != "forbid")
    assert lenient == []


def test_a_typo_inside_a_list_item_is_refused_by_its_path(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "gitops:\n  targets:\n    - kind: kustomize-image\n      image: model-server\n      value: '{version}'\n"
        "      feild: digest\n"
        "listeners:\n  webhooks:\n    github:\n      secrets: [s3cret]\n      per_rep: {}\n"
    )
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2
    assert "gitops.targets[0].feild: unknown setting" in result.output
    assert "listeners.webhooks.github.per_rep: unknown setting" in result.output
