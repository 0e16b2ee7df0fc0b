"""Bearer tokens of the status API, in two roles: read and admin.

A read token lets its holder see events, their outcomes and the API's own
description; an admin token can also replay events and read dead letters.
Each role takes a list, so a token is rotated by adding the new one, moving
the clients, then removing the old. A role with no token configured refuses
every call (403 naming the setting): nothing here is open by default. Tokens
are compared in constant time against every configured token of the role.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

_bearer = HTTPBearer(
    auto_error=False, description="A read token (server.read_tokens) or an admin token (server.admin_tokens)."
)

Guard = Callable[[HTTPAuthorizationCredentials | None], None]


class BearerTokens:
    def __init__(self, *, read: Sequence[SecretStr] = (), admin: Sequence[SecretStr] = ()) -> None:
        admin_values = [t.get_secret_value().encode() for t in admin]
        self._readers = [t.get_secret_value().encode() for t in read] + admin_values
        self._admins = admin_values

    def reader(self) -> Guard:
        """A dependency that admits a read or an admin token."""
        return _guard(self._readers, "server.read_tokens")

    def admin(self) -> Guard:
        """A dependency that admits an admin token only."""
        return _guard(self._admins, "server.admin_tokens")


def _guard(tokens: list[bytes], setting: str) -> Guard:
    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if not tokens:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"these endpoints are disabled: set {setting}")
        claimed = credentials.credentials.encode() if credentials is not None else b""
        # every token is compared, so the time taken does not tell which one came close
        if not sum(hmac.compare_digest(claimed, token) for token in tokens):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return check
