"""The status API under a reader's flood: bounded memory, and liveness keeps answering.

The ledger holds six pushes of about 8.8 MB each (commit messages of a huge
push). Eight clients then ask for ``GET /events?limit=1000`` at once, twice
over, and for each event's payload, while ``/healthz`` is polled. Before the
list became summaries, this took the process from 0.67 GB to 4.0 GB and
``/healthz`` to 10.6 s. Now the list never reads a payload and a payload over
``server.max_response_bytes`` is refused by its size in the database, so the
service's peak resident memory (``VmHWM``) stays under 1 GiB. The ``/healthz``
latencies under load are recorded beside the idle ones of the same run.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.devstack.service_process import ServiceProcess
from reliability.scoreboard import ScenarioFigures
from tests.service.test_crash_recovery import write_config
from triggers.event import Commit, Event, EventType, PushData
from triggers.ledger import Ledger

READ_TOKEN = "reliability-bounded-reads-token-0f3e"
BIG_EVENTS = 6
MESSAGE_BYTES = 8_800_000
READERS = 8
PEAK_RSS_BOUND_BYTES = 1 << 30


def huge_push(n: int) -> Event:
    commits = tuple(Commit(id=f"{n}" * 40, message=f"{m}" * (MESSAGE_BYTES // 10)) for m in range(10))
    return Event(
        source="github/acme/churn-model",
        type=EventType.GIT_PUSH,
        subject="refs/heads/main",
        data=PushData(
            host="github", repo="acme/churn-model", ref="refs/heads/main", before="0" * 40, after=f"{n}" * 40
        ).model_copy(update={"commits": commits}),
        idempotency_key=f"huge-push-{n}",
    )


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc status")


def healthz_seconds(url: str, samples: int) -> list[float]:
    taken = []
    for _ in range(samples):
        started = time.perf_counter()
        httpx.get(f"{url}/healthz", timeout=60).raise_for_status()
        taken.append(time.perf_counter() - started)
        time.sleep(0.05)
    return taken


@pytest.mark.slow
def test_parallel_reads_of_huge_events_stay_bounded(tmp_path: Path, figures: ScenarioFigures) -> None:
    config, ledger_url = write_config(tmp_path, "http://127.0.0.1:9")
    settings = yaml.safe_load(config.read_text())
    settings["dispatcher"] = {"enabled": False}
    settings["server"] = {"read_tokens": [READ_TOKEN]}
    config.write_text(yaml.safe_dump(settings))
    ledger = Ledger.open(ledger_url)
    ids = [ledger.events.record(huge_push(n)).event_id for n in range(1, BIG_EVENTS + 1)]
    ledger.close()

    service = ServiceProcess.start(config, tmp_path / "service.log")
    reader = {"Authorization": f"Bearer {READ_TOKEN}"}
    try:
        idle = healthz_seconds(service.url, 20)
        figures.fault(
            f"{READERS} parallel GET /events?limit=1000 and GET /events/{{id}}/payload "
            f"over {BIG_EVENTS} events of 8.8 MB"
        )

        def read(n: int) -> list[httpx.Response]:
            listed = httpx.get(f"{service.url}/events", params={"limit": 1000}, headers=reader, timeout=120)
            payload = httpx.get(f"{service.url}/events/{ids[n % BIG_EVENTS]}/payload", headers=reader, timeout=120)
            return [listed, payload]

        with ThreadPoolExecutor(READERS + 1) as pool:
            loaded = pool.submit(healthz_seconds, service.url, 40)
            answers = [a for result in pool.map(read, range(READERS * 2)) for a in result]
            under_load = loaded.result()
        peak = peak_rss_bytes(service.proc.pid)
    finally:
        service.stop()

    figures.events_sent = len(answers)
    figures.server_errors = sum(a.status_code >= 500 for a in answers)
    figures.measured.update(
        peak_rss_bytes=peak,
        peak_rss_bound_bytes=PEAK_RSS_BOUND_BYTES,
        healthz_idle_median_ms=round(statistics.median(idle) * 1000, 2),
        healthz_under_load_median_ms=round(statistics.median(under_load) * 1000, 2),
        healthz_under_load_max_ms=round(max(under_load) * 1000, 2),
        largest_answer_bytes=max(len(a.content) for a in answers),
        load_average_1min=round(os.getloadavg()[0], 2),
    )
    listed = [a for a in answers if "/payload" not in str(a.url)]
    assert all(a.status_code == 200 and len(a.json()["events"]) == BIG_EVENTS for a in listed)
    assert all(a.status_code == 413 for a in answers if "/payload" in str(a.url))
    assert max(len(a.content) for a in answers) <= 1 << 20
    assert peak < PEAK_RSS_BOUND_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"
