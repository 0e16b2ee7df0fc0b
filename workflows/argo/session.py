"""An HTTP session that makes every Argo Server call bounded, authenticated and every failure classified.

Hera's ``WorkflowsService`` sends requests through a ``requests.Session`` but
sets no time-out, and for status codes it has no exception class for (502,
503, 504, 429) it raises a bare ``HeraException`` that no longer says which
status it was. This session fixes both below Hera: each request gets a
time-out, and any non-2xx answer raises ``requests.HTTPError`` carrying the
response, before Hera looks at it. Hera reads its token once, but a projected
service-account token is rotated, so the session sets the bearer header on
every request from :class:`~workflows.argo.token.BearerToken`. ``classify``
then turns every ``requests`` failure into the service's own error taxonomy; a
429 or 5xx that says when to come back (``Retry-After``) becomes a
``TemporaryError`` with that delay, which the dispatcher waits out instead of
its own backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import requests

from core.errors import PermanentError, TemporaryError
from workflows.argo.token import BearerToken

_RETRYABLE_STATUSES = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})


class ArgoSession(requests.Session):
    """``requests.Session`` with a default time-out and the current bearer token that raises on any non-2xx."""

    def __init__(self, timeout_seconds: float, token: BearerToken) -> None:
        super().__init__()
        self._timeout_seconds = timeout_seconds
        self._token = token

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout_seconds)
        token = self._token.current()
        if token is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}
        response = super().request(method, url, *args, **kwargs)
        response.raise_for_status()
        return response


def status_code(error: requests.RequestException) -> int | None:
    """The HTTP status behind ``error``, or ``None`` when no response arrived."""
    return error.response.status_code if error.response is not None else None


def classify(error: requests.RequestException, doing: str) -> PermanentError | TemporaryError:
    """Map a failed Argo Server call to ``TemporaryError`` (retry later) or ``PermanentError`` (fix first)."""
    if isinstance(error, requests.Timeout | requests.ConnectionError):
        return TemporaryError(f"Argo Server did not answer while {doing}: {error}; it is retried later")
    code = status_code(error)
    if code is None:
        return PermanentError(f"could not call the Argo Server while {doing}: {error}; check workflows.argo.server_url")
    detail = _server_message(error)
    if code >= 500 or code in _RETRYABLE_STATUSES:
        delay = retry_after_seconds(error.response.headers.get("Retry-After") if error.response is not None else None)
        when = "later" if delay is None else f"in {delay:.0f} s, as it asked"
        return TemporaryError(f"Argo Server answered {code} while {doing}: {detail}; it is retried {when}", delay=delay)
    if code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        return PermanentError(
            f"Argo Server refused the credentials ({code}) while {doing}: {detail}; "
            "check workflows.argo.token (or token_file) and the service account's RBAC"
        )
    return PermanentError(f"Argo Server rejected the request ({code}) while {doing}: {detail}")


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or bad."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _server_message(error: requests.RequestException) -> str:
    """The ``message`` of a grpc-gateway error body, else the raw body."""
    response = error.response
    if response is None:
        return str(error)
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason
    message = body.get("message") if isinstance(body, dict) else None
    return str(message) if message else response.text.strip()
