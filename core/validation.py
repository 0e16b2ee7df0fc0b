"""One readable line per problem a pydantic model found, naming the field.

Configuration files, pipeline parameters and an ML repository's contract file
are all validated by pydantic models; their users fix one field at a time, so
every error is reported as ``dotted.path: what is wrong``.
"""

from __future__ import annotations

from pydantic import ValidationError


def validation_problems(error: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in item['loc']) or '(top level)'}: {item['msg']}" for item in error.errors()]
