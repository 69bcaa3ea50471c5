"""Rendering hosted pages: every page gets the browser's cookie and the security headers."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from provider.context import ctx
from provider.login.browser import Browser, remember_browser

NO_CACHE = {"Cache-Control": "no-store"}


def page(
    request: Request,
    browser: Browser,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    app = ctx(request)
    response = app.templates.TemplateResponse(
        request, template, context or {}, status_code=status_code, headers=NO_CACHE
    )
    remember_browser(response, app, browser)
    return response


def error_page(
    request: Request, browser: Browser, title: str, message: str, status_code: int = 400
) -> Response:
    return page(
        request,
        browser,
        "pages/error.html",
        {"title": title, "message": message},
        status_code=status_code,
    )
