"""The config file: the printed example is complete and valid, and bad files fail with one line per problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from typer.testing import CliRunner, Result

from core.logging import SecretRedactor
from mlops_gitops.cli import app
from mlops_gitops.cli.config_cmd import example_config
from mlops_gitops.service import UnpinnedHostKeysError, check_ssh_host_keys
from mlops_gitops.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def settings_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        paths.append(f"{prefix}{name}")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            paths += settings_paths(field.annotation, f"{prefix}{name}.")
    return paths


def config_check(tmp_path: Path, text: str) -> Result:
    """``mlops-gitops config check`` of a config file holding ``text``."""
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return CliRunner().invoke(app, ["config", "check", "--config", str(config)])


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
    result = config_check(tmp_path, example_config())
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
    result = config_check(tmp_path, "ledger:\n  urll: sqlite:///x.db\nserver:\n  port: 0\n")
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
    result = config_check(tmp_path, "ledger:\n  url: [unclosed\n")
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
    assert done.stderr.startswith("error: ledger database unavailable")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("listeners:\n  webhooks:\n    github:\n      secrets", ["a"]),
        ("listeners:\n  webhooks:\n    gitea:\n      secrets", [" " * 40]),
        ("listeners:\n  webhooks:\n    github:\n      per_repo:\n        acme/churn", ["fifteen-bytes.."]),
        ("server:\n  admin_tokens", ["x"]),
        ("server:\n  read_tokens", ["\t\n" * 10]),
    ],
)
def test_config_check_refuses_short_or_blank_secrets_and_tokens(tmp_path: Path, setting: str, value: list[str]) -> None:
    result = config_check(tmp_path, f"{setting}: {json.dumps(value)}\n")
    assert result.exit_code == 2, result.output
    assert "at least 16 bytes" in result.output or "whitespace" in result.output
    assert repr(value[0]) not in result.output and "input_value" not in result.output, "never quotes the secret"


def test_config_check_warns_about_secrets_under_32_bytes_without_showing_them(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    short, good = "twenty-byte-secret-1", "a-good-long-random-secret-0123456789"
    rules = REPO_ROOT / "mlops_gitops" / "rules.example.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "rules": {"path": str(rules)},
                "server": {"admin_tokens": [good, short]},
                "listeners": {"webhooks": {"github": {"secrets": [short]}, "mlflow": {"secrets": [good]}}},
            }
        )
    )
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert [w.split(":")[1].strip() for w in warnings] == [
        "server.admin_tokens[1]",
        "listeners.webhooks.github.secrets[0]",
    ]
    assert short not in result.output


def test_secrets_of_any_length_are_masked_in_logs() -> None:
    redactor = SecretRedactor(["abc", "xy"])
    assert redactor.scrub({"message": "password abc and xy here"}) == {"message": "password *** and *** here"}


@pytest.mark.parametrize("repo_url", ["git@github.com:acme/gitops.git", "ssh://git@git.example.com/acme/gitops.git"])
def test_an_ssh_remote_without_pinned_host_keys_refuses_to_start_unless_insecure_dev(repo_url: str) -> None:
    settings = Settings.model_validate({"gitops": {"repo_url": repo_url}})
    with pytest.raises(UnpinnedHostKeysError, match=r"gitops\.ssh_known_hosts_path"):
        check_ssh_host_keys(settings)
    settings.listeners.insecure_dev = True
    check_ssh_host_keys(settings)
    pinned = Settings.model_validate({"gitops": {"repo_url": repo_url, "ssh_known_hosts_path": "/etc/ssh/known"}})
    check_ssh_host_keys(pinned)
    check_ssh_host_keys(Settings.model_validate({"gitops": {"repo_url": "https://git.example.com/acme/gitops.git"}}))


def test_the_pull_request_api_url_must_be_https() -> None:
    for url in ("http://api.github.example.com", "ftp://x", "api.github.com"):
        with pytest.raises(ValidationError, match="must be https"):
            Settings.model_validate({"gitops": {"pull_request": {"api_url": url}}})
    for url in ("https://gitlab.example.com/api/v4", "http://127.0.0.1:8081"):
        assert (
            Settings.model_validate({"gitops": {"pull_request": {"api_url": url}}}).gitops.pull_request.api_url == url
        )


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
    result = config_check(
        tmp_path,
        "gitops:\n  targets:\n    - kind: kustomize-image\n      image: model-server\n      value: '{version}'\n"
        "      feild: digest\n"
        "listeners:\n  webhooks:\n    github:\n      secrets: [s3cret]\n      per_rep: {}\n",
    )
    assert result.exit_code == 2
    assert "gitops.targets[0].feild: unknown setting" in result.output
    assert "listeners.webhooks.github.per_rep: unknown setting" in result.output


def test_a_check_across_settings_is_reported_in_its_own_words(tmp_path: Path) -> None:
    result = config_check(tmp_path, "workflows:\n  backend: argo\n  argo:\n    token: a-token-for-the-argo-server\n")

    assert result.exit_code == 2
    assert "workflows: the argo backend needs workflows.argo.feast_project" in result.output
    assert "Value error" not in result.output
