"""One readable line per problem a pydantic model found, naming the field as the user wrote it.

Configuration files, pipeline parameters and an ML repository's contract file
are all validated by pydantic models; their users fix one field at a time, so
every error is reported as ``path.to[0].field: what is wrong``, with list
items as ``[n]`` and a key no field has called an unknown setting. A check
that spans fields says what is wrong in its own words, without pydantic's
"Value error," in front.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def validation_problems(error: ValidationError, values: Any = None, *, within: str = "") -> list[str]:
    """One line per problem; ``values`` (the validated input) lets tagged-union tags be left out of the path, and
    ``within`` names where a group validated on its own sits in the whole configuration."""
    return [f"{_joined(within, _setting_path(item['loc'], values))}: {_message(item)}" for item in error.errors()]


def _message(item: Any) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown setting"
    if item["type"] == "value_error" and "error" in item.get("ctx", {}):
        return str(item["ctx"]["error"])
    return str(item["msg"])


def _joined(within: str, path: str) -> str:
    if within and path:
        return f"{within}{path}" if path.startswith("[") else f"{within}.{path}"
    return within or path or "(top level)"


def _setting_path(loc: tuple[int | str, ...], values: Any) -> str:
    """Pydantic's error location as a path into the input: list items as ``[n]``, union tags left out.

    A tagged union (the GitOps targets' ``kind``) puts the tag into the location although the input has no such
    key; a location part that is neither a key nor an index of the value there but equals one of its values is
    that tag.
    """
    path = ""
    node = values
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            continue
        if isinstance(node, dict) and part not in node and part in {v for v in node.values() if isinstance(v, str)}:
            continue
        path += f".{part}" if path else part
        node = node.get(part) if isinstance(node, dict) else None
    return path
