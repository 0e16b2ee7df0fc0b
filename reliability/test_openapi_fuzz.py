"""Schemathesis against the service's own OpenAPI document: every endpoint, no 5xx.

The app is assembled the way ``mlops-gitops serve`` assembles it (webhook
intake, operations endpoints, the status API and its API description, with
an admin token) over a
real SQLite ledger that already holds events, so ``/events/{id}`` and the
replay endpoint meet ids that exist as well as ids that do not. Generated
requests carry the admin token, so the admin endpoints are fuzzed past their
guard (the guard itself is checked in ``test_secure_defaults``). The stateful
run follows the links Schemathesis infers between operations.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from devtools.devstack.senders import github_headers
from listeners.http.app import create_app
from mlops_gitops.api.auth import BearerTokens
from mlops_gitops.api.docs import docs_router
from mlops_gitops.api.events import events_router
from reliability.scoreboard import ScenarioFigures
from reliability.sources_under_test import CASES
from tests.listeners.conftest import GITHUB_SECRET, listener_settings
from triggers.ledger import Ledger

ADMIN_TOKEN = "reliability-admin-token"
AUTHORIZED = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EXAMPLES_PER_OPERATION = 250
SEEDED_EVENTS = 5


@pytest.fixture(scope="module")
def service_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    ledger = Ledger.open(f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'ledger.db'}")
    tokens = BearerTokens(admin=[SecretStr(ADMIN_TOKEN)])
    routers = [events_router(ledger, tokens, max_response_bytes=1 << 20), docs_router(tokens)]
    app = create_app(listener_settings(), ledger, extra_routers=routers)
    with TestClient(app) as client:
        for n in range(SEEDED_EVENTS):
            body = json.dumps(CASES[0].payload | {"after": f"{n + 3}" * 40}).encode()
            assert client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET)).is_success
        yield app
    ledger.close()


@pytest.fixture(scope="module")
def api_schema(service_app: FastAPI) -> schemathesis.BaseSchema:
    with TestClient(service_app) as client:
        document = client.get("/openapi.json", headers=AUTHORIZED).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.app = service_app
    return schema


def with_event_links(document: dict[str, Any]) -> dict[str, Any]:
    """The service's document plus OpenAPI links from a listed event to reading and replaying it.

    FastAPI writes no links, and they are what a stateful run follows.
    """
    linked = copy.deepcopy(document)
    listed_id = "$response.body#/events/0/id"
    linked["paths"]["/events"]["get"]["responses"]["200"]["links"] = {
        "ReadListedEvent": {"operationId": "get_event_events__event_id__get", "parameters": {"event_id": listed_id}},
        "ReplayListedEvent": {
            "operationId": "replay_events__event_id__replay_post",
            "parameters": {"event_id": listed_id},
        },
    }
    linked["paths"]["/events/{event_id}/replay"]["post"]["responses"]["202"]["links"] = {
        "ReadReplayedEvent": {
            "operationId": "get_event_events__event_id__get",
            "parameters": {"event_id": "$response.body#/id"},
        }
    }
    return linked


def test_no_operation_answers_with_a_server_error(
    api_schema: schemathesis.BaseSchema, figures: ScenarioFigures
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations() if isinstance(result, Ok)]
    for operation in operations:
        figures.fault(f"schema-generated requests to {operation.label}")

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case[Any]) -> None:
            response = case.call(headers=AUTHORIZED)
            figures.events_sent += 1
            figures.server_errors += response.status_code >= 500
            case.validate_response(response, checks=[not_a_server_error])

        call()
    assert len(operations) >= 7


def test_stateful_sequences_answer_without_server_errors(service_app: FastAPI, figures: ScenarioFigures) -> None:
    figures.fault("sequences following the links between operations")
    linked = schemathesis.openapi.from_dict(with_event_links(service_app.openapi()))
    linked.app = service_app
    machine = linked.as_state_machine()

    class CountingMachine(machine):  # type: ignore[misc,valid-type]
        def call(self, case: schemathesis.Case[Any], **kwargs: object) -> schemathesis.Response:
            response = case.call(headers=AUTHORIZED)
            figures.events_sent += 1
            figures.server_errors += response.status_code >= 500
            return response

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case[Any], **kwargs: object
        ) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    CountingMachine.run(settings=settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck)))
    assert figures.server_errors == 0
