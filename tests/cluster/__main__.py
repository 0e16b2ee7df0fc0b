"""``python -m tests.cluster [--level N] [--output DIR]``: run the cluster test, write its report, print its verdict.

The exit status is 0 when the run reached the level asked for (4, all of them, unless told otherwise).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.cluster.run import ALL_LEVELS, run
from tests.upstream import REPO_ROOT


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / ".cluster-test", help="where the report and the programs' logs go"
    )
    parser.add_argument(
        "--level",
        type=int,
        choices=range(1, ALL_LEVELS + 1),
        default=ALL_LEVELS,
        help="stop once this level is proven (default: %(default)s, all of them)",
    )
    args = parser.parse_args()
    report = run(args.output, up_to=args.level)
    path = report.write(args.output / "cluster-test-report.json")
    print(f"report: {path} (logs: {args.output / 'logs'})")
    print(report.summary_line())
    return 0 if report.failure is None and report.level >= args.level else 1


sys.exit(main())
