"""Fixtures of the reliability suite and the hook that writes its results file.

Each test asks for ``figures`` and fills in what it injected, sent and
observed; a scenario counts as passed only when its test passed. The results
file is written once, when the session finishes: ``reliability.json`` when the
whole suite ran, ``selected.json`` when only some modules or tests were
chosen, so a partial run never overwrites the full report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from listeners.intake import Intake
from reliability.scoreboard import RESULTS_FILE, ScenarioFigures, Scoreboard
from tests.conftest import kafka_broker, postgres, postgres_url  # noqa: F401 - the suite's real services
from tests.listeners.conftest import listener_settings
from tests.service.test_crash_recovery import argo  # noqa: F401 - the Argo Server stand-in, its runs already succeeded
from triggers.ledger import Ledger

SCOREBOARD = Scoreboard()
_outcomes: dict[str, bool] = {}


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[ScenarioFigures]:
    scenario = SCOREBOARD.scenario(request.node.name)
    yield scenario
    scenario.passed = _outcomes.get(request.node.nodeid, False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        _outcomes[item.nodeid] = report.passed
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not SCOREBOARD.scenarios:
        return
    suite = Path(__file__).parent.resolve()
    chosen = [Path(str(arg).split("::", 1)[0]).resolve() for arg in session.config.args]
    whole = chosen == [suite] and not session.config.option.keyword and not session.config.option.markexpr
    SCOREBOARD.write(RESULTS_FILE if whole else RESULTS_FILE.with_name("selected.json"))


@pytest.fixture(scope="session")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """The listeners' intake with every source's secrets, over a real SQLite ledger it never needs to write."""
    ledger = Ledger.open(f"sqlite:///{tmp_path_factory.mktemp('intake') / 'ledger.db'}")
    yield Intake(listener_settings(), ledger, channel="http")
    ledger.close()
