"""Read a sender's JSON into a pydantic model, with errors a sender can act on.

pydantic's JSON parser refuses nesting deeper than a fixed limit, so a hostile
deeply nested body becomes a 400 and never a stack overflow. A body that is
not JSON is a 400; JSON that lacks or mistypes a field is a 422 naming the
field's dotted path.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from listeners.rejections import DeliveryError, InvalidError, MalformedError

_JSON_OBJECT = TypeAdapter(dict[str, Any])
ModelT = TypeVar("ModelT", bound=BaseModel)


class SenderModel(BaseModel):
    """Base of the sender payload models: unknown fields are ignored, senders add fields all the time."""

    model_config = ConfigDict(extra="ignore", frozen=True, regex_engine="python-re")


def rejection(error: ValidationError, what: str = "body") -> DeliveryError:
    """The 400 or 422 that describes ``error`` (the first problem, by field path)."""
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] in ("json_invalid", "json_type"):
        return MalformedError(f"{what} is not valid JSON: {first['msg']}")
    path = ".".join(str(part) for part in first["loc"]) or what
    if first["type"] == "missing":
        return InvalidError(f"field {path!r} is missing")
    return InvalidError(f"field {path!r} is invalid: {first['msg']}")


def load_json(model: type[ModelT], body: bytes) -> ModelT:
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise rejection(e) from e


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, for sources that must look inside before choosing a model."""
    try:
        return _JSON_OBJECT.validate_json(body)
    except ValidationError as e:
        raise rejection(e) from e


def validate(model: type[ModelT], value: Any, what: str = "body") -> ModelT:
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise rejection(e, what) from e
