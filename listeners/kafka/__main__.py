"""``python -m listeners.kafka``: run the consumer alone, e.g. as its own deployment or in tests.

Settings come as a JSON object of the ``listeners`` group (the same shape as
the service's YAML); the ledger URL is given separately.
"""

from __future__ import annotations

import argparse
import signal
import threading

from core.logging import configure_logging
from listeners.intake import Intake
from listeners.kafka.consumer import IngestConsumer
from listeners.settings import ListenerSettings
from triggers.ledger import Ledger


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m listeners.kafka", description=__doc__)
    parser.add_argument("--ledger-url", required=True, help="SQLAlchemy URL of the ledger")
    parser.add_argument("--settings-json", default="{}", help="the listeners settings group as JSON")
    args = parser.parse_args()
    configure_logging()
    settings = ListenerSettings.model_validate_json(args.settings_json)
    ledger = Ledger.open(args.ledger_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        IngestConsumer(settings.kafka, Intake(settings, ledger, channel="kafka")).run(stop)
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
