"""The rules' template engine under arbitrary templates and hostile event values.

Template text comes from the operator's rules file and is compiled at start-up,
where the only acceptable failure is the ``ValueError`` the rules loader turns
into a start-up error. Values come from outside senders, so rendering a
template over any event must either produce a value or raise the engine's
documented refusals (``PermanentError`` and its ``TemplateFieldError``), and
hostile values must come out as plain data, never evaluated as template code.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.errors import PermanentError
from reliability.hostile import hostile_text, json_values
from reliability.scoreboard import ScenarioFigures
from triggers.rules.templating import FieldTemplate, render_tree

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

OPERANDS = st.sampled_from(
    [
        "data.x",
        "data.items",
        "subject",
        "0",
        "1",
        "'a'",
        "[1]",
        "none",
        "range(99999999)",
        "data.x.__class__",
        "subject[5]",
        "data['x']",
        "lipsum",
        "cycler",
    ]
)
OPERATORS = st.sampled_from(
    [
        " + ",
        " - ",
        " * ",
        " / ",
        " // ",
        " % ",
        " ~ ",
        " ** ",
        " | upper",
        " | join(',')",
        " | int",
        " | first",
        " | default('a')",
        " in ",
        " if ",
    ]
)
expressions = st.builds(
    lambda first, rest: first + "".join(op + operand for op, operand in rest),
    OPERANDS,
    st.lists(st.tuples(OPERATORS, OPERANDS), max_size=3),
)
template_sources = st.one_of(
    st.text(max_size=60),
    expressions.map(lambda e: "{{ " + e + " }}"),
    expressions.map(lambda e: "{% for i in " + e + " %}{{ i }}{% endfor %}"),
)
contexts = st.fixed_dictionaries(
    {"subject": hostile_text, "data": st.dictionaries(st.sampled_from(["x", "items", "ref"]), json_values, max_size=3)}
)


def _render_or_refuse(source: str, context: dict[str, Any]) -> None:
    try:
        template = FieldTemplate(source, "params.x")
    except ValueError:
        return
    with contextlib.suppress(PermanentError):
        template.render_value(context)


def test_any_template_compiles_or_is_refused_and_renders_or_is_refused(figures: ScenarioFigures) -> None:
    figures.fault("arbitrary template text and Jinja fragments over hostile contexts")

    @FUZZ
    @given(source=template_sources, context=contexts)
    @example(source="{{ data.x + 1 }}", context={"subject": "main", "data": {"x": "text where a number was"}})
    def render(source: str, context: dict[str, Any]) -> None:
        figures.events_sent += 1
        _render_or_refuse(source, context)

    render()


def test_hostile_values_render_as_data_never_as_code(figures: ScenarioFigures) -> None:
    figures.fault("template syntax, traversal and YAML text inside event values")
    parameters = {
        "branch": "{{ subject }}",
        "paths": "{{ data.x }}",
        "nested": ["{{ subject }}", {"k": "{{ data.x }}"}],
    }

    @FUZZ
    @given(subject=hostile_text, value=json_values)
    def render(subject: str, value: Any) -> None:
        figures.events_sent += 1
        rendered = render_tree(parameters, {"subject": subject, "data": {"x": value}}, "params")
        assert rendered["branch"] == subject
        assert rendered["nested"][0] == subject

    render()
