"""Filters decide which events a rule sees, and say why when they do not."""

from __future__ import annotations

import pytest

from tests.triggers.events import BOT_EMAIL, data_notice, push, stage_change
from tests.triggers.kinds import TEST_SPECS
from triggers.event import Event
from triggers.rules.engine import RulesEngine
from triggers.rules.filters import TruncatedCommitsError
from triggers.rules.loader import parse_rules


def engine_for(filters: str, on: str = "git.push") -> RulesEngine:
    rules = parse_rules(
        f"""
triggers:
  - name: rule
    on: [{on}]
    filters: {filters}
    action: {{kind: append}}
""",
        TEST_SPECS,
    )
    return RulesEngine(rules, bot_email=BOT_EMAIL)


def matches(engine: RulesEngine, event: Event) -> bool:
    return bool(engine.evaluate(event).matched)


def test_branch_repo_and_path_globs() -> None:
    engine = engine_for("{repos: 'acme/*', branches: ['main', 'release/*'], paths: ['src/*', 'configs/*.yaml']}")
    assert matches(engine, push(paths=("src/models/xgb.py",)))
    assert matches(engine, push(ref="refs/heads/release/2026.11", paths=("configs/xgb.yaml",)))
    assert not matches(engine, push(ref="refs/heads/feature/x"))
    assert not matches(engine, push(repo="other/repo"))
    evaluation = engine.evaluate(push(paths=("README.md", "docs/index.md")))
    assert evaluation.reasons == {"rule": "no changed path matches filters.paths"}
    assert not matches(engine, push(ref="refs/tags/v1.0"))


def test_truncated_commit_lists_follow_on_truncated() -> None:
    unrelated_but_truncated = push(paths=("README.md",), truncated=True)
    assert matches(engine_for("{paths: ['src/*'], on_truncated: match}"), unrelated_but_truncated)
    skipping = engine_for("{paths: ['src/*'], on_truncated: skip}")
    assert "truncated" in skipping.evaluate(unrelated_but_truncated).reasons["rule"]
    with pytest.raises(TruncatedCommitsError, match="on_truncated is 'fail'"):
        engine_for("{paths: ['src/*'], on_truncated: fail}").evaluate(unrelated_but_truncated)
    # a full commit list is judged on its paths whatever on_truncated says
    assert not matches(engine_for("{paths: ['src/*'], on_truncated: match}"), push(paths=("README.md",)))


def test_dataset_globs_act_as_prefixes() -> None:
    engine = engine_for("{datasets: 'churn/*'}", on="data.arrived")
    assert matches(engine, data_notice("churn/customer_activity"))
    assert not matches(engine, data_notice("fraud/payments"))


def test_stage_transitions_and_aliases() -> None:
    to_production = engine_for("{models: [churn-xgb], stage: {to: [production]}}", on="model.stage.changed")
    assert matches(to_production, stage_change(to_stage="Production"))
    assert not matches(to_production, stage_change(to_stage="Staging", from_stage="None"))
    assert not matches(to_production, stage_change(model="fraud-gbm"))
    demotion = engine_for("{stage: {from: [Production], to: [Archived, None]}}", on="model.stage.changed")
    assert matches(demotion, stage_change(from_stage="Production", to_stage="Archived"))
    assert not matches(demotion, stage_change(from_stage="Staging", to_stage="Archived"))


def test_when_expressions_read_event_fields_safely() -> None:
    engine = engine_for("{when: \"data.branch == 'main' and len(data.changed_paths) >= 2\"}")
    assert matches(engine, push(paths=("a.py", "b.py")))
    assert engine.evaluate(push(paths=("a.py",))).reasons["rule"].startswith("filters.when")


def test_an_expression_reading_a_missing_field_is_a_permanent_error() -> None:
    from core.errors import PermanentError

    engine = engine_for('{when: "data.no_such_field == 1"}')
    with pytest.raises(PermanentError, match="no_such_field"):
        engine.evaluate(push())


def test_the_bots_own_gitops_push_matches_nothing() -> None:
    engine = engine_for("{}")
    own = push(author_email=BOT_EMAIL, message="Promote churn-xgb version 3 to production\n\nTrigger-Event-Id: abc")
    evaluation = engine.evaluate(own)
    assert evaluation.matched == ()
    assert "own GitOps write-back" in evaluation.ignored_reason()
    # the bot identity without the lineage trailer is not enough to be ignored
    assert matches(engine, push(author_email=BOT_EMAIL, message="hand-made commit"))


def test_repository_globs_compare_case_folded_as_the_secrets_do() -> None:
    engine = engine_for("{repos: ['acme/churn-model']}")
    assert matches(engine, push(repo="ACME/Churn-Model"))
    assert not matches(engine_for("{repos: ['acme/other']}"), push(repo="ACME/Churn-Model"))
