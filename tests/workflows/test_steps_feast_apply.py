"""``feast apply`` runs when the definitions changed and is skipped when the registry already holds them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workflows.params import FeatureApplyParams
from workflows.steps.contract import StepRequest, StepRuntime
from workflows.steps.feast_apply import feast_apply
from workflows.steps.feature_store import registry_path

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]


def _apply(runtime: StepRuntime) -> list[str]:
    request = StepRequest[FeatureApplyParams](params=FeatureApplyParams(), runtime=runtime, workflow_name="apply-1")
    return feast_apply(request).feature_views


def test_unchanged_definitions_are_not_applied_again(tmp_path: Path) -> None:
    definitions = tmp_path / "feature_repo"
    shutil.copytree(REPO_ROOT / "feature_repo", definitions)
    runtime = StepRuntime(
        work_dir=str(tmp_path / "work"),
        feature_store_dir=str(tmp_path / "store"),
        feature_repo_source=str(definitions),
        feast_project="churn",
        mlflow_tracking_uri="http://127.0.0.1:1",
    )
    assert _apply(runtime) == ["customer_engagement", "customer_profile"]
    registry = Path(registry_path(runtime))
    applied = registry.stat().st_mtime_ns

    assert _apply(runtime) == ["customer_engagement", "customer_profile"]
    assert registry.stat().st_mtime_ns == applied, "unchanged definitions must not rewrite the registry"

    churn = definitions / "churn.py"
    churn.write_text(churn.read_text().replace('name="customer_engagement"', 'name="customer_usage"'))
    assert _apply(runtime) == ["customer_profile", "customer_usage"]
