"""Injection attempts in event fields stop at the boundary, before any parameter, path or manifest.

Two boundaries are checked: the sources (a delivery whose repository, dataset
or model name is hostile is refused with a 4xx) and the pipeline parameter
models (whatever a rule template copies out of an event, a hostile value is
refused before a workflow is submitted). A valid value with a hostile tail
(``churn-xgb\\n``) matters most: it passes a careless ``$``-anchored check.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from listeners.intake import Intake
from listeners.rejections import DeliveryError
from listeners.sources import Delivery, Ignored
from reliability.hostile import INJECTIONS
from reliability.scoreboard import ScenarioFigures
from reliability.sources_under_test import CASES
from workflows.params import EtlParams, FeatureApplyParams, RetrainParams

TAILS = ("\n", "\nkey: injected", "/../../etc", "; id", "$(id)", " x", "'", "\x00")

# (case index in CASES, path to the field inside the payload)
SOURCE_FIELDS: tuple[tuple[int, tuple[str | int, ...]], ...] = (
    (0, ("repository", "full_name")),
    (0, ("after",)),
    (1, ("project", "path_with_namespace")),
    (2, ("repository", "full_name")),
    (3, ("data", "name")),
    (4, ("data", "name")),
    (5, ("model_name",)),
    (6, ("dataset",)),
    (7, ("subject",)),
    (8, ("Records", 0, "s3", "bucket", "name")),
)


def _hostile_variants(valid: str) -> list[str]:
    return [*INJECTIONS, *(valid + tail for tail in TAILS)]


def _replaced(payload: dict[str, Any], path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    parent: Any = changed
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return changed


def _valid_at(payload: dict[str, Any], path: tuple[str | int, ...]) -> str:
    value: Any = payload
    for step in path:
        value = value[step]
    return str(value)


@pytest.mark.parametrize(
    ("case_index", "path"), SOURCE_FIELDS, ids=lambda v: "/".join(map(str, v)) if isinstance(v, tuple) else str(v)
)
def test_sources_refuse_hostile_identifiers(
    case_index: int, path: tuple[str | int, ...], intake: Intake, figures: ScenarioFigures
) -> None:
    case = CASES[case_index]
    figures.fault(f"hostile {case.source} field {'.'.join(map(str, path))}")
    admitted = []
    for value in _hostile_variants(_valid_at(case.payload, path)):
        figures.events_sent += 1
        body = json.dumps(_replaced(case.payload, path, value)).encode()
        try:
            result = intake.admit(Delivery(case.source, case.headers, body, "fallback"), trusted_transport=True)
        except DeliveryError:
            continue
        if not isinstance(result, Ignored):
            admitted.append(value)
    assert admitted == []


_REPO = "https://github.com/team/churn.git"
PARAM_FIELDS: tuple[tuple[type[BaseModel], str, dict[str, Any]], ...] = (
    (RetrainParams, "repo_url", {"commit": "a" * 40, "model_name": "churn-xgb"}),
    (RetrainParams, "commit", {"repo_url": "https://github.com/team/churn.git", "model_name": "churn-xgb"}),
    (RetrainParams, "model_name", {"repo_url": "https://github.com/team/churn.git", "commit": "a" * 40}),
    (RetrainParams, "params_file", {"repo_url": _REPO, "commit": "a" * 40, "model_name": "churn-xgb"}),
    (RetrainParams, "trigger_event_id", {"repo_url": _REPO, "commit": "a" * 40, "model_name": "churn-xgb"}),
    (EtlParams, "dataset", {"source_uri": "s3://raw/churn", "partitions": ["date=2026-11-26"]}),
    (EtlParams, "source_uri", {"partitions": ["date=2026-11-26"]}),
    (FeatureApplyParams, "repo_subdir", {}),
)
# What a field's own contract allows on purpose: a local absolute path is a valid data or
# clone location, and a relative path is only ever read below its checkout directory.
PERMITTED = {"repo_url": {"/etc/passwd"}, "source_uri": {"/etc/passwd"}, "params_file": {"-rf"}, "repo_subdir": {"-rf"}}
VALID_PARAM = {
    "repo_url": "https://github.com/team/churn.git",
    "commit": "a" * 40,
    "model_name": "churn-xgb",
    "params_file": "configs/xgb_model_params.yaml",
    "trigger_event_id": "evt-1",
    "dataset": "raw/churn/events",
    "source_uri": "s3://raw/churn",
    "repo_subdir": "feature_repo",
}


@pytest.mark.parametrize(("model", "field", "others"), PARAM_FIELDS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_workflow_parameters_refuse_hostile_values(
    model: type[BaseModel], field: str, others: dict[str, Any], figures: ScenarioFigures
) -> None:
    figures.fault(f"hostile {model.__name__}.{field}")
    model.model_validate({**others, field: VALID_PARAM[field]})
    accepted = []
    for value in _hostile_variants(VALID_PARAM[field]):
        if value in PERMITTED.get(field, set()):
            continue
        figures.events_sent += 1
        try:
            model.model_validate({**others, field: value})
        except ValidationError:
            continue
        accepted.append(value)
    assert accepted == []


def test_event_partitions_refuse_hostile_values(figures: ScenarioFigures) -> None:
    figures.fault("hostile EtlParams.partitions entry")
    accepted = []
    for value in _hostile_variants("date=2026-11-26"):
        figures.events_sent += 1
        try:
            EtlParams(source_uri="s3://raw/churn", partitions=(value,))
        except ValidationError:
            continue
        accepted.append(value)
    assert accepted == []
