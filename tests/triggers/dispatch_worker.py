"""One dispatcher process for the replica test: ``python -m tests.triggers.dispatch_worker URL JOURNAL EXPECTED``.

It dispatches until the ledger holds ``EXPECTED`` finished events, journaling
every action it performs (with its pid) to ``JOURNAL``: a push's id, or the
ids of a debounced batch of data notices.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.triggers.events import BOT_EMAIL
from tests.triggers.kinds import TEST_SPECS, AppendAction
from triggers.dispatcher import Dispatcher
from triggers.ledger import Ledger
from triggers.ledger.records import TERMINAL
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import parse_rules
from triggers.settings import DispatcherSettings

RULES = """
triggers:
  - name: journal
    on: [git.push]
    action: {kind: append, line: "{{ id }}"}
  - name: etl
    on: [data.arrived]
    debounce: {key: "{{ data.dataset }}", quiet_seconds: 0.5, max_wait_seconds: 60}
    action: {kind: append, line: "{{ events | map(attribute='id') | join(',') }}"}
"""


def main(url: str, journal: str, expected: int) -> None:
    ledger = Ledger.open(url)
    append = AppendAction(Path(journal))
    engine = RulesEngine(parse_rules(RULES, TEST_SPECS), bot_email=BOT_EMAIL)
    dispatcher = Dispatcher(ledger, engine, {append.kind: append}, DispatcherSettings(batch_size=20))

    def finished() -> int:
        counts = ledger.reads.count_by_state()
        return sum(counts.get(state.value, 0) for state in TERMINAL)

    while finished() < expected:
        if dispatcher.run_once() == 0:
            time.sleep(0.02)
    ledger.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
