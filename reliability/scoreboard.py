"""The figures each reliability scenario reports, gathered into one results file.

A scenario is judged by what it sent and what came of it: how many events were
lost, how many actions ran twice, how many answers were server errors, and how
long the service took to recover from the worst fault. Every test fills in one
:class:`ScenarioFigures`; the session writes them all to
``reliability/results/reliability.json`` so a run can be compared with the
"zero lost, zero duplicated, zero 5xx" bar at a glance.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS_FILE = Path(__file__).parent / "results" / "reliability.json"


@dataclass
class ScenarioFigures:
    name: str
    faults_injected: list[str] = field(default_factory=list)
    events_sent: int = 0
    lost: int = 0
    duplicated: int = 0
    server_errors: int = 0
    longest_recovery_seconds: float = 0.0
    measured: dict[str, float] = field(default_factory=dict)
    """Resource figures of a scenario (memory, latency), each with the bound it is held to or its baseline."""
    passed: bool = False

    def fault(self, description: str) -> None:
        self.faults_injected.append(description)

    def recovered_after(self, seconds: float) -> None:
        self.longest_recovery_seconds = max(self.longest_recovery_seconds, round(seconds, 3))


@dataclass
class Scoreboard:
    scenarios: dict[str, ScenarioFigures] = field(default_factory=dict)

    def scenario(self, name: str) -> ScenarioFigures:
        return self.scenarios.setdefault(name, ScenarioFigures(name))

    def write(self, path: Path = RESULTS_FILE) -> None:
        figures = [asdict(s) for s in self.scenarios.values()]
        totals = {key: sum(f[key] for f in figures) for key in ("events_sent", "lost", "duplicated", "server_errors")}
        report = {"scenarios": figures, "totals": totals, "all_passed": all(f["passed"] for f in figures)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
