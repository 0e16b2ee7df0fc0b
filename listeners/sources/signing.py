"""HMAC signature schemes the senders use, each checked in constant time.

Three shapes cover every source: a hex HMAC-SHA256 of the raw body (GitHub
with a ``sha256=`` prefix, Gitea, Databricks), a plain shared token (GitLab,
MinIO's bearer token), and a timestamped ``v1,<base64>`` HMAC over
``id.timestamp.body`` (MLflow and Standard Webhooks, which differ only in
how the key is written down). The shape of each signature header is checked
on its own (``hex_signature``, ``v1_entries``) so that a missing or malformed
one is refused before the body is read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable

from listeners.rejections import UnauthorizedError
from listeners.sources.base import Headers
from listeners.sources.keyring import Credential, Keyring

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_BASE64_SHA256 = re.compile(r"[A-Za-z0-9+/]{43}=")


def required_signature(headers: Headers, *names: str) -> str:
    """The first present signature header among ``names``; a missing signature is a 401, not a 400."""
    for name in names:
        value = headers.get(name)
        if value:
            return value
    raise UnauthorizedError(f"signature header {names[0]!r} is missing")


def hex_signature(headers: Headers, *names: str, prefix: str = "") -> str:
    """The hex HMAC-SHA256 of the first present header among ``names``, after ``prefix``; any other shape is a 401.

    It needs no body, so the webhook app checks it before reading one.
    """
    value = required_signature(headers, *names).strip()
    digest = value[len(prefix) :]
    if not value.startswith(prefix) or not _HEX_SHA256.fullmatch(digest):
        raise UnauthorizedError(f"header {names[0]!r} must be {prefix}<64 hex digits>")
    return digest


def v1_entries(signatures: str, name: str) -> list[bytes]:
    """The ``v1,<base64>`` entries of a timestamped signature header; none that could match is a 401."""
    claimed = [entry[3:].encode() for entry in signatures.split() if entry.startswith("v1,")]
    if not any(_BASE64_SHA256.fullmatch(c.decode()) for c in claimed):
        raise UnauthorizedError(f"header {name!r} has no 'v1,<base64 HMAC-SHA256>' entry")
    return claimed


def hex_body_hmac(signature: str, body: bytes, keyring: Keyring) -> Credential:
    """Match a hex HMAC-SHA256 of the raw body against every secret."""
    claimed = signature.strip().lower().encode()
    return keyring.first_match(
        lambda secret: hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).hexdigest().encode(), claimed)
    )


def shared_token(token: str, keyring: Keyring) -> Credential:
    claimed = token.encode()
    return keyring.first_match(lambda secret: hmac.compare_digest(secret, claimed))


def timestamped_v1(
    *,
    message_id: str,
    timestamp: str,
    signatures: str,
    body: bytes,
    keyring: Keyring,
    key_of: Callable[[bytes], bytes] = lambda secret: secret,
) -> Credential:
    """Match any ``v1,<base64>`` entry (space separated) of HMAC-SHA256 over ``id.timestamp.body``.

    The claimed text is compared with the canonical base64 of the expected
    digest, not decoded first: a decoder accepts several spellings of the
    same bytes (the unused low bits of the last character), and a signature
    with one character changed must not pass.
    """
    keyring.check_fresh(timestamp)
    claimed = v1_entries(signatures, "signature")
    signed = b".".join((message_id.encode(), timestamp.encode(), body))

    def matches(secret: bytes) -> bool:
        expected = base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest())
        return any(hmac.compare_digest(expected, c) for c in claimed)

    return keyring.first_match(matches)
