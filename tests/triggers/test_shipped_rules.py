"""Both rules files the project ships (the example and the deployed one) render their follow-ups against the
outputs the pipelines really produce, so a template naming an output field that does not exist fails here
instead of dead-lettering every promotion in a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.triggers.events import push
from triggers.actions.base import ActionRequest
from triggers.actions.promotion import PromotionActionSpec
from triggers.actions.registry import ACTION_SPECS
from triggers.rules.engine import action_context
from triggers.rules.loader import parse_rules
from workflows.steps.register import RetrainOutput

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [REPO_ROOT / "mlops_gitops" / "rules.example.yaml", REPO_ROOT / "deploy" / "base" / "rules.yaml"]

REGISTERED = RetrainOutput(
    model_name="churn-xgb",
    model_version="7",
    model_uri="models:/churn-xgb/7",
    run_id="a" * 32,
    metric_name="auc",
    metric=0.91,
    champion_metric=0.9,
    promoted=True,
    training_commit="b" * 40,
)


@pytest.mark.parametrize("rules_file", SHIPPED, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_promotion_follow_ups_render_from_the_retrain_outputs(rules_file: Path) -> None:
    rules = parse_rules(rules_file.read_text(), ACTION_SPECS)
    event = push()
    context = action_context(event, (event,), {"register": REGISTERED.model_dump()})
    rendered = []
    for rule in rules:
        for stage in rule.stages[1:]:
            spec = stage.spec
            if not isinstance(spec, PromotionActionSpec):
                continue
            assert stage.when is None or stage.when.evaluate(context), f"{rule.name}: {stage.field} would be skipped"
            request = ActionRequest(rule.name, f"{rule.name}:x", stage.field, event, (event,), context)
            rendered.append((request.render(spec.model_name, "model_name"), request.render(spec.version, "version")))
    assert rendered, f"{rules_file.name} has no promotion follow-up to check"
    assert set(rendered) == {("churn-xgb", "7")}
