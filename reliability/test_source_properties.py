"""Every source's ``verify`` and ``parse`` under arbitrary and hostile input.

The only acceptable outcomes are an answer (events or "ignored") or one of the
documented refusals (``DeliveryError``: a 4xx over HTTP, a dead letter on
Kafka). Anything else would be a 500 for a webhook sender or a crashed
consumer loop. Events that are admitted must carry identifiers that match
their allow-list exactly, line breaks included, since those values become
workflow parameters, file paths and YAML.
"""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.identifiers import DATASET_KEY_PATTERN, MODEL_NAME_PATTERN, REPO_PATTERN
from listeners.intake import Intake
from listeners.rejections import DeliveryError
from listeners.sources import SOURCES, Delivery, Ignored
from listeners.sources.keyring import Credential, Keyring
from reliability.hostile import header_text
from reliability.scoreboard import ScenarioFigures
from reliability.sources_under_test import CASES, SourceCase, mutated
from triggers.event import DataArrival, Event, ModelChange, PushData

EXAMPLES_PER_CASE = 150
FUZZ = settings(max_examples=EXAMPLES_PER_CASE, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_identifiers_exact(event: Event) -> None:
    """Identifier fields match their pattern in full: no trailing newline slips past a ``$``."""
    data = event.data
    if isinstance(data, PushData):
        assert re.fullmatch(REPO_PATTERN, data.repo), data.repo
    elif isinstance(data, DataArrival):
        assert re.fullmatch(DATASET_KEY_PATTERN, data.dataset), data.dataset
    elif isinstance(data, ModelChange):
        assert re.fullmatch(MODEL_NAME_PATTERN, data.model_name), data.model_name


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.source}-{sorted(c.payload)[0]}")
def test_parse_answers_or_refuses_mutated_payloads(case: SourceCase, intake: Intake, figures: ScenarioFigures) -> None:
    figures.fault("payload fields replaced by traversal, shell, YAML, template, control and over-long values")

    @FUZZ
    @given(payload=mutated(case.payload))
    def parse(payload: object) -> None:
        figures.events_sent += 1
        delivery = Delivery(case.source, case.headers, json.dumps(payload).encode(), f"{case.source}:fallback")
        try:
            result = intake.admit(delivery, trusted_transport=True)
        except DeliveryError:
            return
        if not isinstance(result, Ignored):
            for event in result:
                assert_identifiers_exact(event)

    parse()


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_parse_refuses_arbitrary_bytes_and_headers(source: str, intake: Intake, figures: ScenarioFigures) -> None:
    figures.fault("arbitrary bodies and header values")
    header_names = st.sampled_from(
        [
            "x-github-event",
            "x-gitlab-event",
            "x-gitea-event",
            "ce-specversion",
            "ce-id",
            "ce-source",
            "ce-type",
            "x-mlflow-delivery-id",
            "webhook-id",
            "content-type",
        ]
    )

    @FUZZ
    @given(body=st.binary(max_size=300), headers=st.dictionaries(header_names, header_text, max_size=5))
    def parse(body: bytes, headers: dict[str, str]) -> None:
        figures.events_sent += 1
        with contextlib.suppress(DeliveryError):
            intake.admit(Delivery(source, headers, body, f"{source}:fallback"), trusted_transport=True)

    parse()


@pytest.mark.parametrize("case", [c for c in CASES if c.signature_headers], ids=lambda c: c.source)
def test_verify_refuses_forged_signatures(case: SourceCase, figures: ScenarioFigures) -> None:
    """Random signature headers never authenticate, and never fail other than with a refusal."""
    figures.fault("random signature, id, timestamp and token headers")
    keyrings = [Keyring([Credential(b"the-real-secret")]), Keyring([Credential(b"")])]
    headers = st.fixed_dictionaries({}, optional={name: header_text for name in case.signature_headers})

    @FUZZ
    @given(headers=headers, body=st.binary(max_size=200), keyring=st.sampled_from(keyrings))
    def verify(headers: dict[str, str], body: bytes, keyring: Keyring) -> None:
        figures.events_sent += 1
        with pytest.raises(DeliveryError):
            SOURCES[case.source].verify(headers, body, keyring)

    verify()
