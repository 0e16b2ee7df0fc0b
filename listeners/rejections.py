"""Why a delivery was refused, as an exception that carries its HTTP answer.

A source's ``verify`` or ``parse`` raises one of these; the webhook app turns
it into a 4xx with the reason, and the Kafka consumer turns it into a dead
letter with the same reason. Messages name the header or field at fault and
never quote a secret or a signature.
"""

from __future__ import annotations

from core.errors import PermanentError


class DeliveryError(PermanentError):
    """Bad input: retrying the same delivery cannot succeed."""

    status = 400
    reason = "rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnknownSourceError(DeliveryError):
    status = 404
    reason = "unknown_source"


class SourceClosedError(DeliveryError):
    status = 404
    reason = "source_closed"


class UnauthorizedError(DeliveryError):
    status = 401
    reason = "unauthorized"


class TooLargeError(DeliveryError):
    status = 413
    reason = "too_large"


class UnsupportedMediaTypeError(DeliveryError):
    status = 415
    reason = "unsupported_media_type"


class MalformedError(DeliveryError):
    status = 400
    reason = "malformed"


class InvalidError(DeliveryError):
    status = 422
    reason = "invalid"
