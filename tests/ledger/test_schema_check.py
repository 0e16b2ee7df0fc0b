"""Commands run by hand read the ledger without migrating it, and refuse a schema they cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from mlops_gitops.cli import app
from triggers.ledger import Ledger
from triggers.ledger.database import create_ledger_engine
from triggers.ledger.migrate import SchemaMismatchError, head_revision, upgrade


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def events(ledger_url: str, tmp_path: Path, *args: str) -> tuple[int, str, BaseException | None]:
    config = tmp_path / "config.yaml"
    config.write_text(f"ledger:\n  url: {ledger_url}\n")
    result = CliRunner().invoke(app, ["events", *args, "--config", str(config)])
    return result.exit_code, result.output, result.exception


def revision(ledger_url: str) -> str | None:
    ledger = Ledger.open(ledger_url, migrate=False)
    try:
        return ledger.reads.schema_revision()
    finally:
        ledger.close()


@pytest.mark.parametrize("command", [["list"], ["show", "no-such-id"], ["dead-letters"], ["replay", "no-such-id"]])
def test_an_older_schema_is_left_as_it_is_and_the_command_refuses(
    ledger_url: str, tmp_path: Path, command: list[str]
) -> None:
    upgrade(create_ledger_engine(ledger_url), "0001")
    code, _, error = events(ledger_url, tmp_path, *command)
    assert isinstance(error, SchemaMismatchError) and code != 0
    assert "older than this release" in str(error) and "upgrade and restart the service" in str(error)
    assert revision(ledger_url) == "0001"


def test_a_database_without_a_schema_is_not_given_one(ledger_url: str, tmp_path: Path) -> None:
    code, _, error = events(ledger_url, tmp_path, "list")
    assert isinstance(error, SchemaMismatchError) and code != 0
    assert "no schema yet" in str(error)
    assert inspect(create_ledger_engine(ledger_url)).get_table_names() == []


def test_a_newer_schema_is_read_with_a_warning_but_not_written(ledger_url: str, tmp_path: Path) -> None:
    Ledger.open(ledger_url).close()
    with create_ledger_engine(ledger_url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_a_later_release'"))
    code, output, _ = events(ledger_url, tmp_path, "list", "--json")
    assert code == 0
    assert "warning: the ledger schema is at revision 9999_from_a_later_release, newer than this release" in output
    code, _, error = events(ledger_url, tmp_path, "replay", "no-such-id")
    assert isinstance(error, SchemaMismatchError) and "use the release the service runs" in str(error)
    assert revision(ledger_url) == "9999_from_a_later_release"


def test_a_current_schema_is_read_quietly(ledger_url: str, tmp_path: Path) -> None:
    Ledger.open(ledger_url).close()
    code, output, _ = events(ledger_url, tmp_path, "list", "--json")
    assert (code, output.strip()) == (0, "[]")
    assert revision(ledger_url) == head_revision()
