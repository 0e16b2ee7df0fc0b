"""Unauthenticated bodies cost little: a flood of large posts leaves the service's memory nearly where it was.

Measured before the change: 24 parallel 26 MB posts with a malformed
signature header were all answered 401, but only after every byte had been
read, and the process grew by 690 MB. Now the header is judged first, so the
body is never read; and of the posts whose signature is well formed but
wrong (they must be read to be checked), only a few are read at once. The
growth of the service's peak resident memory (``VmHWM``) over its idle peak
is recorded and held under a bound far below the old figure.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from devtools.devstack.service_process import ServiceProcess
from reliability.scoreboard import ScenarioFigures
from reliability.test_bounded_reads import peak_rss_bytes
from tests.service.test_crash_recovery import write_config

MALFORMED_POSTS, MALFORMED_BYTES = 24, 26 * 1024 * 1024
WRONG_POSTS, WRONG_BYTES = 12, 8 * 1024 * 1024
GROWTH_BOUND_BYTES = 256 * 1024 * 1024


def post(port: int, size: int, signature: str) -> int:
    """POST ``size`` bytes to /webhooks/github as fast as the server takes them; the answer's status."""
    head = (
        "POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {size}\r\n\r\n"
    )
    chunk = b" " * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        conn.sendall(head.encode())
        try:
            for _ in range(size // len(chunk)):
                conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the body was read, and the connection closed
        return int(conn.recv(4096).split(b" ", 2)[1])


@pytest.mark.slow
def test_large_unauthenticated_posts_cost_little_memory(tmp_path: Path, figures: ScenarioFigures) -> None:
    config, _ = write_config(tmp_path, "http://127.0.0.1:9")
    settings = yaml.safe_load(config.read_text())
    settings["dispatcher"] = {"enabled": False}
    config.write_text(yaml.safe_dump(settings))
    service = ServiceProcess.start(config, tmp_path / "service.log")
    try:
        idle_peak = peak_rss_bytes(service.proc.pid)
        with ThreadPoolExecutor(MALFORMED_POSTS) as pool:
            figures.fault(f"{MALFORMED_POSTS} parallel posts of 26 MB with a malformed signature header")
            malformed = list(
                pool.map(lambda _: post(service.port, MALFORMED_BYTES, "sha256=00"), range(MALFORMED_POSTS))
            )
            after_malformed = peak_rss_bytes(service.proc.pid)
            figures.fault(f"{WRONG_POSTS} parallel posts of 8 MB with a well-formed but wrong signature")
            wrong = list(pool.map(lambda _: post(service.port, WRONG_BYTES, "sha256=" + "0" * 64), range(WRONG_POSTS)))
            after_wrong = peak_rss_bytes(service.proc.pid)
    finally:
        service.stop()

    answers = malformed + wrong
    figures.events_sent = len(answers)
    figures.server_errors = sum(status >= 500 for status in answers)
    figures.measured.update(
        idle_peak_rss_bytes=idle_peak,
        growth_after_malformed_bytes=after_malformed - idle_peak,
        growth_after_wrong_bytes=after_wrong - idle_peak,
        growth_bound_bytes=GROWTH_BOUND_BYTES,
        growth_before_the_change_bytes=690 * 1024 * 1024,
        load_average_1min=round(os.getloadavg()[0], 2),
    )
    assert malformed == [401] * MALFORMED_POSTS
    assert wrong == [401] * WRONG_POSTS
    assert after_malformed - idle_peak < 32 * 1024 * 1024, "malformed bodies were read"
    assert after_wrong - idle_peak < GROWTH_BOUND_BYTES
