"""Rendering dashboard pages: the admin layout with its nav, the CSRF token of the admin
session, a one-shot notice, and no caching (pages show operator data)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from provider.admin.session import COOKIE_PATH, FLASH_COOKIE, Admin, take_notice
from provider.context import ctx

NO_CACHE = {"Cache-Control": "no-store"}

# The left nav: (section, [(label, path, key)]).
NAV: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("Security", [("Multi-factor Auth", "/admin/mfa", "mfa")]),
    (
        "Branding",
        [
            ("Email provider", "/admin/email", "email"),
            ("Email templates", "/admin/templates", "templates"),
        ],
    ),
    (
        "Manage",
        [
            ("Users", "/admin/users", "users"),
            ("Applications", "/admin/applications", "applications"),
            ("Connections", "/admin/connections", "connections"),
            ("Activity", "/admin/activity", "activity"),
        ],
    ),
]


def admin_page(
    request: Request,
    admin: Admin,
    template: str,
    context: dict[str, Any],
    *,
    active: str,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    notice = take_notice(request)
    values = {
        "admin": admin,
        "csrf": admin.csrf,
        "nav": NAV,
        "active": active,
        "notice": notice,
        "error": error,
        **context,
    }
    response = ctx(request).templates.TemplateResponse(
        request, template, values, status_code=status_code, headers=NO_CACHE
    )
    if notice is not None:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)
    return response
