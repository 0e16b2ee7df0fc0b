"""Bearer-token guard for admin endpoints (replay, dead letters).

With no token configured the endpoints are refused outright: an admin surface
must never be open by default.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

_bearer = HTTPBearer(auto_error=False, description="The service's admin token (server.admin_token).")


def require_admin(token: SecretStr | None) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if token is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "admin endpoints are disabled: set server.admin_token")
        if credentials is None or not hmac.compare_digest(
            credentials.credentials.encode(), token.get_secret_value().encode()
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return check
