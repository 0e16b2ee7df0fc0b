"""``/openapi.json`` and ``/docs`` behind a read token.

The API description names every endpoint and parameter, which is a map for
an attacker, so it is served to token holders only. The Swagger page carries
the description inline (Swagger UI's ``spec`` parameter) instead of fetching
``/openapi.json`` from the browser, which could not send the token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from mlops_gitops.api.auth import BearerTokens


def docs_router(tokens: BearerTokens) -> APIRouter:
    router = APIRouter(dependencies=[Depends(tokens.reader())], include_in_schema=False)

    @router.get("/openapi.json")
    def openapi(request: Request) -> dict[str, Any]:
        return request.app.openapi()  # type: ignore[no-any-return]

    @router.get("/docs")
    def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{request.app.title} - API",
            swagger_ui_parameters={"spec": request.app.openapi()},
        )

    return router
