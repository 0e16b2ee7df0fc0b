"""A 503 tells the sender when to come back: the error's own delay when it has one, else the default."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.testclient import TestClient

from core.errors import TemporaryError
from listeners.http.app import RETRY_AFTER_SECONDS, create_app
from tests.listeners.conftest import listener_settings
from triggers.ledger import Ledger


def test_a_temporary_error_with_a_delay_is_a_503_whose_retry_after_is_that_delay(ledger: Ledger) -> None:
    busy = APIRouter()

    @busy.post("/busy/{seconds}")
    def refuse(seconds: float) -> None:
        raise TemporaryError("the ledger is being migrated", delay=seconds or None)

    client = TestClient(create_app(listener_settings(), ledger, extra_routers=[busy]))
    timed = client.post("/busy/42.5")
    assert (timed.status_code, timed.headers["Retry-After"]) == (503, "43")
    assert timed.json()["error"] == "ledger_unavailable"
    untimed = client.post("/busy/0")
    assert (untimed.status_code, untimed.headers["Retry-After"]) == (503, RETRY_AFTER_SECONDS)
