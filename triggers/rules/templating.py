"""Parameter templates: event fields rendered into action inputs, safely.

Templates come from the rules file and values from outside senders, so they
are rendered by Jinja2's ``SandboxedEnvironment`` (no attribute games, no
access to Python internals) with ``StrictUndefined``: a template that reads a
field the event does not have fails loudly instead of silently rendering an
empty string into a pipeline parameter or a manifest. Templates are compiled
when the rules are loaded, so a syntax error is a start-up error; an
expression that fails on one event's values (arithmetic on a text field) is a
permanent failure of that event, since retrying renders it the same way.

A parameter template that evaluates to a list or a mapping keeps that shape
(the partitions of a batch of coalesced events become a list, not the text of
one); every other result is text, so a commit SHA made only of digits stays a
string. The shape comes from the expression, never from the text: Jinja2's
native rendering would ``literal_eval`` a string, so an event field holding
``'["--upload-pack=x"]'`` would become a list; here a lone expression's value
is taken as it is, and text from an event stays text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from itertools import chain, islice
from typing import Any, TypeVar

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.nativetypes import NativeEnvironment, NativeTemplate
from jinja2.sandbox import SandboxedEnvironment

from core.errors import PermanentError


def _lone_value(values: Iterable[Any]) -> Any:
    """The value of a template that is one expression, as the expression produced it; otherwise the text."""
    head = list(islice(values, 2))
    if len(head) == 1:
        return head[0]
    return "".join(str(v) for v in chain(head, values))


class _SandboxedNativeEnvironment(NativeEnvironment, SandboxedEnvironment):
    """Sandboxed rendering that returns the Python value of a lone expression (never parsing text into one)."""

    concat = staticmethod(_lone_value)


class _ValueTemplate(NativeTemplate):
    environment_class = _SandboxedNativeEnvironment


_SandboxedNativeEnvironment.template_class = _ValueTemplate


_TEXT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_NATIVE = _SandboxedNativeEnvironment(undefined=StrictUndefined, autoescape=False)

_T = TypeVar("_T")


class TemplateFieldError(PermanentError):
    """A template read a field the event does not carry."""


@dataclasses.dataclass(frozen=True)
class FieldTemplate:
    """One compiled template and the config field it came from (for error messages)."""

    source: str
    field: str
    _text: Template = dataclasses.field(init=False, repr=False, compare=False)
    _native: Template = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_text", _TEXT.from_string(self.source))
            object.__setattr__(self, "_native", _NATIVE.from_string(self.source))
        except TemplateSyntaxError as e:
            raise ValueError(f"template syntax error: {e.message}") from e

    def render(self, context: Mapping[str, Any]) -> str:
        """The template's text."""
        return self._guarded(lambda: self._text.render(context))

    def render_value(self, context: Mapping[str, Any]) -> Any:
        """A list or mapping when the template evaluates to one, else the template's text."""
        value = self._guarded(lambda: self._native.render(context))
        return value if isinstance(value, list | dict | tuple) else self.render(context)

    def _guarded(self, rendering: Callable[[], _T]) -> _T:
        try:
            return rendering()
        except UndefinedError as e:
            raise TemplateFieldError(
                f"template for {self.field} ({self.source!r}) references a missing event field: {e.message}; "
                "fix the rule's template, or its filters so only events carrying that field reach it"
            ) from e
        except SecurityError as e:
            raise PermanentError(f"template for {self.field} ({self.source!r}) is not allowed: {e}") from e
        except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as e:
            # The same event fails the same way on every attempt (e.g. "{{ data.size + 1 }}" over a text size).
            raise PermanentError(
                f"template for {self.field} ({self.source!r}) cannot render this event: {type(e).__name__}: {e}; "
                "make the template accept every value its filters let through"
            ) from e


def check_template(source: str) -> str:
    """Validate template syntax; usable as a pydantic ``AfterValidator``."""
    FieldTemplate(source, "")
    return source


def render_tree(value: Any, context: Mapping[str, Any], field: str) -> Any:
    """Render every string inside nested mappings and lists; other values pass through."""
    if isinstance(value, str):
        return FieldTemplate(value, field).render_value(context)
    if isinstance(value, Mapping):
        return {k: render_tree(v, context, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_tree(v, context, f"{field}[{i}]") for i, v in enumerate(value)]
    return value
