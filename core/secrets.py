"""What a secret or token this service checks must be: long enough, and not blank.

Webhook signing secrets and status API tokens are chosen by the operator, and
a short one can be guessed or brute-forced offline from one signed delivery.
A value under ``MIN_SECRET_BYTES`` or made only of whitespace is refused when
the settings load, so ``config check`` and ``serve`` both fail on it; one
under ``GOOD_SECRET_BYTES`` (Standard Webhooks asks for 24 to 64 bytes) is
accepted with a warning at start-up.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, SecretStr

MIN_SECRET_BYTES = 16
GOOD_SECRET_BYTES = 32


def _strong_enough(secret: SecretStr) -> SecretStr:
    value = secret.get_secret_value()
    if not value.strip():
        raise ValueError("a secret made only of whitespace (or empty) is refused")
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"a secret must be at least {MIN_SECRET_BYTES} bytes long")
    return secret


StrongSecret = Annotated[SecretStr, AfterValidator(_strong_enough)]
"""A secret or token of at least ``MIN_SECRET_BYTES`` bytes that is not only whitespace."""


def is_short(secret: SecretStr) -> bool:
    """Accepted, but shorter than a secret should be: worth a warning."""
    return len(secret.get_secret_value().encode()) < GOOD_SECRET_BYTES
