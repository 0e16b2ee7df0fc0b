"""Concurrent deliveries share ledger transactions, and each still gets its own, correct answer."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from devtools.devstack.senders import github_headers
from listeners.http.app import create_app
from tests.listeners.conftest import GITHUB_SECRET, listener_settings
from tests.listeners.serving import serve
from triggers.ledger import Ledger


def _push(n: int) -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": f"{n:040x}",
            "after": f"{n + 1:040x}",
            "commits": [],
            "repository": {"full_name": "ml-team/churn-model"},
        }
    ).encode()


def test_concurrent_distinct_and_repeated_deliveries(ledger: Ledger) -> None:
    distinct = [(_push(n), github_headers(_push(n), GITHUB_SECRET)) for n in range(40)]
    repeated_body = _push(1000)
    repeated = [(repeated_body, github_headers(repeated_body, GITHUB_SECRET, delivery="same-delivery"))] * 20
    with serve(create_app(listener_settings(), ledger)) as url, httpx.Client(base_url=url) as client:

        def post(request: tuple[bytes, dict[str, str]]) -> httpx.Response:
            return client.post("/webhooks/github", content=request[0], headers=request[1])

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(post, distinct + repeated))
    assert [a.status_code for a in answers[:40]] == [202] * 40
    repeats = answers[40:]
    assert sorted(a.status_code for a in repeats) == [200] * 19 + [202]
    assert len({a.json()["event_ids"][0] for a in repeats}) == 1
    assert ledger.reads.count_by_state() == {"received": 41}
