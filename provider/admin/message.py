"""Pages outside the signed-in layout (refusals, expired forms, signed out); kept apart from
the layout renderer so the session guard can use it without an import cycle."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from provider.context import ctx

NO_CACHE = {"Cache-Control": "no-store"}


def message_page(
    request: Request,
    title: str,
    message: str,
    status_code: int = 200,
    *,
    link: tuple[str, str] | None = ("Sign in to the dashboard", "/admin/login"),
) -> Response:
    """A page outside the signed-in layout: refusals, expired forms, signed out."""
    return ctx(request).templates.TemplateResponse(
        request,
        "admin/message.html",
        {"title": title, "message": message, "link": link},
        status_code=status_code,
        headers=NO_CACHE,
    )
