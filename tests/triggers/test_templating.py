"""Templates render event fields into action inputs, strictly and inside a sandbox."""

from __future__ import annotations

import pytest

from core.errors import PermanentError
from tests.triggers.events import data_notice, push
from triggers.rules.engine import action_context
from triggers.rules.templating import FieldTemplate, TemplateFieldError, render_tree


def test_params_render_from_event_fields_and_keep_list_shapes() -> None:
    events = [data_notice(partition=f"date=2026-11-{day}") for day in (24, 25, 25)]
    context = action_context(events[0], events)
    params = render_tree(
        {
            "dataset": "{{ data.dataset }}",
            "partitions": "{{ events | map(attribute='data.partition') | unique | list }}",
            "count": "{{ events | length }}",
            "fixed": 3,
        },
        context,
        "params",
    )
    assert params == {
        "dataset": "churn/customer_activity",
        "partitions": ["date=2026-11-24", "date=2026-11-25"],
        "count": "3",
        "fixed": 3,
    }


def test_a_digits_only_commit_stays_text() -> None:
    event = push()
    sha = "1234567" + "0" * 33
    context = {**action_context(event), "data": {**action_context(event)["data"], "after": sha}}
    assert FieldTemplate("{{ data.after }}", "params.commit").render_value(context) == sha


def test_a_missing_field_fails_with_an_error_naming_it() -> None:
    template = FieldTemplate("{{ data.datasett }}", "trigger 'etl' action.params.dataset")
    with pytest.raises(TemplateFieldError) as caught:
        template.render(action_context(data_notice()))
    message = str(caught.value)
    assert "datasett" in message and "trigger 'etl' action.params.dataset" in message
    assert isinstance(caught.value, PermanentError)


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(PermanentError, match="not allowed"):
        FieldTemplate("{{ data.dataset.__class__.__mro__ }}", "params.x").render(action_context(data_notice()))


def test_a_syntax_error_is_refused_when_compiled() -> None:
    with pytest.raises(ValueError, match="template syntax error"):
        FieldTemplate("{{ data.dataset ", "params.x")


@pytest.mark.parametrize("text", ['["--upload-pack=touch /tmp/pwned"]', '{"etl": {"rows": 1}}', "(1, 2)", "42", "True"])
def test_text_from_an_event_stays_text_whatever_it_looks_like(text: str) -> None:
    event = push()
    context = {**action_context(event), "data": {**action_context(event)["data"], "ref": text}}
    assert FieldTemplate("{{ data.ref }}", "params.ref").render_value(context) == text
    assert render_tree({"args": ["{{ data.ref }}"]}, context, "params") == {"args": [text]}


def test_a_rule_asks_for_a_list_explicitly() -> None:
    event = push()
    context = {**action_context(event), "data": {**action_context(event)["data"], "ref": "a,b"}}
    assert FieldTemplate("{{ data.ref.split(',') }}", "params.refs").render_value(context) == ["a", "b"]
    assert FieldTemplate("{{ [data.ref] }}", "params.refs").render_value(context) == ["a,b"]
