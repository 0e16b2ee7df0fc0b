"""Rule conditions written as small Python-like expressions, evaluated without ``eval``.

A filter sometimes needs logic the declarative fields cannot express ("a new
version whose run beat the champion", "a push by anyone but the release bot").
``simpleeval`` walks the parsed expression itself and allows only plain
operators, literals, the event's fields and a few pure functions, so an
expression from the rules file can read the event but cannot import, call
arbitrary code or loop forever. Expressions are parsed when the rules are
loaded, so a syntax error is a start-up error.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from core.errors import PermanentError

_FUNCTIONS: dict[str, Any] = {
    "len": len,
    "any": any,
    "all": all,
    "min": min,
    "max": max,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}


@dataclasses.dataclass(frozen=True)
class Expression:
    """A parsed condition and the config field it came from."""

    source: str
    field: str
    _parsed: ast.AST = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            parsed = EvalWithCompoundTypes().parse(self.source)
        except SyntaxError as e:
            raise ValueError(f"expression syntax error: {e.msg}") from e
        object.__setattr__(self, "_parsed", parsed)

    def evaluate(self, names: Mapping[str, Any]) -> bool:
        """Truth of the expression over ``names``; a missing name or a bad operation is a ``PermanentError``."""
        evaluator = EvalWithCompoundTypes(names=dict(names), functions=_FUNCTIONS)
        try:
            return bool(evaluator.eval(self.source, previously_parsed=self._parsed))
        except (InvalidExpression, KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as e:
            raise PermanentError(
                f"expression for {self.field} ({self.source!r}) cannot be evaluated: {e}; fix the expression"
            ) from e


def check_expression(source: str) -> str:
    """Validate expression syntax; usable as a pydantic ``AfterValidator``."""
    Expression(source, "")
    return source
