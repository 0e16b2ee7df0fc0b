"""Hostile values and Hypothesis strategies shared by the hostile-input tests.

The fixed list holds what an attacker would try first against fields that end
up in workflow parameters, file paths and YAML: path traversal, shell
metacharacters, YAML-breaking text, template syntax, control characters and
over-long values. The strategies mix those with arbitrary text, so Hypothesis
explores around the known attacks as well as at random.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

INJECTIONS: tuple[str, ...] = (
    "../../etc/passwd",
    "models/../../secrets",
    "..",
    ".",
    "/etc/passwd",
    "; rm -rf /",
    "$(id)",
    "`id`",
    "a|b",
    "a && b",
    "a b",
    "-rf",
    "--upload-pack=touch /tmp/pwned",
    "name\n",
    "name\nkey: injected",
    "name\r\n",
    "key: [unclosed",
    "- item",
    "'quoted'",
    '"quoted"',
    "{{ 7 * 7 }}",
    "{% raw %}",
    "a\x00b",
    "naïve",
    "a" * 5000,
    "a/" * 600 + "b",
)

hostile_text = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=80))
"""A known attack or arbitrary text (any code point, including surrogates and control characters)."""

header_text = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=120)
"""What an HTTP server can hand the app as a header value: latin-1 text."""

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def valid_or_hostile(valid: str) -> st.SearchStrategy[Any]:
    """Mostly-valid payload fields: the valid value, a hostile string, or any JSON value."""
    return st.one_of(st.just(valid), hostile_text, json_values)
