"""The rules file is validated at start-up, with one line per problem naming the trigger and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.triggers.kinds import TEST_SPECS
from triggers.actions.registry import ACTION_SPECS
from triggers.rules.loader import RulesError, load_rules, parse_rules

REPO_ROOT = Path(__file__).resolve().parents[2]


def problems_of(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, TEST_SPECS)
    return caught.value.problems


def test_a_valid_file_compiles_every_part_of_a_rule() -> None:
    rules = parse_rules(
        """
version: 1
triggers:
  - name: etl-on-data
    on: [data.arrived]
    filters: {datasets: "churn/*", when: "data.partition != ''"}
    action: {kind: append, line: "{{ data.dataset }}"}
    then:
      - when: "outputs.line != ''"
        action: {kind: append, line: "again {{ outputs.line }}"}
    debounce: {key: "{{ data.dataset }}", quiet_seconds: 30, max_wait_seconds: 300}
    concurrency: {key: "{{ data.dataset }}", policy: queue}
    rate_limit: {max_runs: 10, per_seconds: 3600}
""",
        TEST_SPECS,
    )
    (rule,) = rules
    assert rule.name == "etl-on-data"
    assert [stage.field for stage in rule.stages] == ["action", "then[0].action"]
    assert rule.debounce is not None and rule.debounce.max_wait.total_seconds() == 300
    assert rule.concurrency is not None and rule.concurrency.policy == "queue"
    assert rule.rate_limit is not None and rule.rate_limit.max_runs == 10
    assert rule.filter.config.datasets == ["churn/*"]


def test_every_problem_is_reported_on_its_own_line_naming_trigger_and_field() -> None:
    problems = problems_of(
        """
triggers:
  - name: retrain-on-push
    on: [git.push]
    filters: {paths: 5, on_truncated: maybe}
    action: {kind: workflow, pipeline: retrain, params: {commit: "{{ data.after "}}
  - name: promote
    on: [model.stage.changed, no.such.type]
    action: {kind: gitops-promotion, colour: blue}
    debounce: {key: "{{ data.model_name }}", quiet_seconds: 60, max_wait_seconds: 10}
  - name: data
    on: [data.arrived]
    filters: {branches: [main], when: "data.dataset =="}
    action: {kind: teleport}
"""
    )
    expected_fragments = [
        ("trigger 'retrain-on-push': filters.paths:", "valid list"),
        ("trigger 'retrain-on-push': filters.on_truncated:", "'match', 'skip' or 'fail'"),
        ("trigger 'retrain-on-push': action.params:", "template syntax error"),
        ("trigger 'promote': on[1]:", "git.push"),
        ("trigger 'promote': debounce:", "max_wait_seconds must be at least quiet_seconds"),
        ("trigger 'promote': action.colour:", "Extra inputs are not permitted"),
        ("trigger 'data': filters.when:", "expression syntax error"),
        ("trigger 'data': action.kind:", "not 'teleport'"),
    ]
    for prefix, fragment in expected_fragments:
        assert any(p.startswith(prefix) and fragment in p for p in problems), (prefix, problems)
    assert all("\n" not in p for p in problems)


def test_a_filter_that_cannot_apply_to_the_event_types_is_refused() -> None:
    problems = problems_of(
        """
triggers:
  - name: data-on-main
    on: [data.arrived]
    filters: {branches: [main]}
    action: {kind: append}
"""
    )
    assert problems == ["trigger 'data-on-main': filters.branches: does not apply to data.arrived events"]


def test_unknown_pipelines_and_repeated_names_are_refused() -> None:
    problems = problems_of(
        """
triggers:
  - {name: twice, on: [git.push], action: {kind: workflow, pipeline: bake-a-cake}}
  - {name: twice, on: [git.push], action: {kind: append}}
"""
    )
    assert any(p.startswith("trigger 'twice': action.pipeline:") and "bake-a-cake" in p for p in problems)
    assert any(p.startswith("triggers:") and "repeated: twice" in p for p in problems)


def test_a_workflow_rule_must_give_the_parameters_that_have_no_default() -> None:
    """No model or dataset is named by the service: a rule that names none is refused when it loads."""
    problems = problems_of(
        """
triggers:
  - name: retrain-on-push
    on: [git.push]
    action: {kind: workflow, pipeline: retrain, params: {repo_url: "{{ data.clone_url }}"}}
"""
    )
    assert problems == [
        "trigger 'retrain-on-push': action: pipeline retrain needs params model_name: they have no default"
    ]


def test_broken_yaml_and_unreadable_files_are_one_clear_line(tmp_path: Path) -> None:
    assert len(problems_of("triggers: [unclosed")) == 1
    with pytest.raises(RulesError, match="cannot read the rules file"):
        load_rules(tmp_path / "missing.yaml", ACTION_SPECS)


def test_the_example_rules_file_is_valid() -> None:
    rules = load_rules(REPO_ROOT / "mlops_gitops" / "rules.example.yaml", ACTION_SPECS)
    kinds = {stage.spec.kind for rule in rules for stage in rule.stages}
    assert kinds == {"workflow", "gitops-promotion", "gitops-rollback"}
    assert any(rule.debounce is not None for rule in rules)
