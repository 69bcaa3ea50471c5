"""Turning Authlib's answers and errors into Starlette responses."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.base import OAuth2Error
from starlette.responses import JSONResponse, RedirectResponse, Response

from provider.oauth.server import AuthlibResult

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def to_response(result: AuthlibResult) -> Response:
    headers = {k: v for k, v in result.headers if k.lower() not in ("content-type",)}
    if result.status in (301, 302, 303, 307):
        return RedirectResponse(headers.pop("Location"), status_code=302, headers=headers)
    if isinstance(result.body, dict | list):
        headers.update(NO_STORE)
        return JSONResponse(result.body, status_code=result.status, headers=headers)
    return Response(result.body, status_code=result.status, headers=headers)


def error_response(error: OAuth2Error) -> Response:
    status, body, headers = error()
    extra: dict[str, Any] = dict(NO_STORE)
    if status == 401:
        extra["WWW-Authenticate"] = 'Basic realm="provider"'
    return JSONResponse(dict(body), status_code=status, headers=extra)
