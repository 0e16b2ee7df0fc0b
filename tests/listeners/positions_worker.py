"""One replica's webhook path recording an MLflow alias move through the alias/stage table, in its own process.

``python -m tests.listeners.positions_worker LEDGER_URL VERSION SIGNALS [--hold]`` records the move of alias
``champion`` of model ``churn`` to VERSION exactly as the webhook app does (settle against the table, record,
save the table on the way out). It writes ``SIGNALS/<version>.entering`` before it asks for the table and
``SIGNALS/<version>.recorded`` once its event is stored; with ``--hold`` it then waits for ``SIGNALS/go`` before
it leaves the batch and saves the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from listeners.model_positions import positions_batch
from listeners.sources.model_event import model_event
from triggers.event import EventType, ModelChange
from triggers.ledger import Ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ledger_url")
    parser.add_argument("version")
    parser.add_argument("signals", type=Path)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    ledger = Ledger.open(args.ledger_url, migrate=False)
    webhook = model_event(
        EventType.MODEL_ALIAS_CHANGED,
        ModelChange(model_name="churn", alias="champion", version=args.version),
        f"mlflow-delivery-{args.version}",
    )
    (args.signals / f"{args.version}.entering").touch()
    with positions_batch(ledger) as batch:
        ledger.events.record_many([batch.settle(webhook)])
        (args.signals / f"{args.version}.recorded").touch()
        while args.hold and not (args.signals / "go").exists():
            time.sleep(0.01)
    ledger.close()


if __name__ == "__main__":
    main()
