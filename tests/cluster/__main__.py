"""``python -m tests.cluster [--output DIR]``: run the cluster test, write its report, print its verdict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.cluster.run import run
from tests.upstream import REPO_ROOT

TARGET_LEVEL = 4


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / ".cluster-test", help="where the report and the programs' logs go"
    )
    args = parser.parse_args()
    report = run(args.output)
    path = report.write(args.output / "cluster-test-report.json")
    print(f"report: {path} (logs: {args.output / 'logs'})")
    print(report.summary_line())
    return 0 if report.failure is None and report.level >= TARGET_LEVEL else 1


sys.exit(main())
