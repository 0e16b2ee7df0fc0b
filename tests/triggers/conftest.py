"""A real ledger for every dispatcher test: SQLite, and PostgreSQL where replicas matter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from triggers.ledger import Ledger


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    opened = Ledger.open(url)
    yield opened
    opened.close()
