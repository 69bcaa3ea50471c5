"""Who is using the dashboard: a server-side admin session behind a signed, HttpOnly,
SameSite=Strict cookie scoped to /admin, with an idle and an absolute expiry.

Every request re-reads the session row, the user and the admin role, so blocking a user or
revoking the role takes effect on the next click, not at the next sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from authlib.oauth2.base import OAuth2Error
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.admin.message import message_page
from provider.context import AppContext, ctx
from provider.db.admin_sessions import AdminSessionStore
from provider.db.records import User
from provider.db.roles import ADMIN
from provider.oauth.params import read_params

ADMIN_COOKIE = "provider_admin"
FLASH_COOKIE = "provider_admin_flash"
COOKIE_PATH = "/admin"
IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Admin:
    user: User
    session_id: str
    csrf: str

    @property
    def actor(self) -> str:
        """How the audit log names a dashboard change."""
        return f"user:{self.user.id} {self.user.email}"


def limits(app: AppContext) -> tuple[int, int]:
    """(idle, absolute) session lifetimes in seconds; `[admin]` in provider.toml may shorten
    them (tests use this instead of waiting)."""
    section = app.settings.extra.get("admin", {})
    idle = section.get("idle_timeout", IDLE_SECONDS)
    lifetime = section.get("session_lifetime", LIFETIME_SECONDS)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (idle, lifetime)):
        idle, lifetime = IDLE_SECONDS, LIFETIME_SECONDS
    return idle, lifetime


def sessions(app: AppContext) -> AdminSessionStore:
    return AdminSessionStore(app.database)


def _signer(app: AppContext) -> Signer:
    return Signer(app.box.signing_key, salt="provider.admin-session")


def csrf_for(app: AppContext, session_id: str) -> str:
    message = f"admin-csrf:{session_id}".encode()
    return hmac.new(app.box.signing_key, message, hashlib.sha256).hexdigest()


def set_admin_cookie(response: Response, app: AppContext, session_id: str) -> None:
    response.set_cookie(
        ADMIN_COOKIE,
        _signer(app).sign(session_id).decode(),
        max_age=limits(app)[1],
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=app.settings.cookies_secure,
    )


def clear_admin_cookie(response: Response, app: AppContext) -> None:
    response.delete_cookie(
        ADMIN_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=app.settings.cookies_secure,
    )


def session_id_of(request: Request) -> str | None:
    raw = request.cookies.get(ADMIN_COOKIE)
    if not raw or len(raw) > 512:
        return None
    try:
        return _signer(ctx(request)).unsign(raw).decode()
    except BadSignature:
        return None


# -- one-shot notices after a redirect (post/redirect/get) -------------------------------------
def _flash_serializer(app: AppContext) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.box.signing_key, salt="provider.admin-flash")


def redirect_with_notice(request: Request, location: str, notice: str) -> Response:
    app = ctx(request)
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        _flash_serializer(app).dumps(notice[:500]),
        max_age=60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=app.settings.cookies_secure,
    )
    return response


def take_notice(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or len(raw) > 2048:
        return None
    try:
        notice = _flash_serializer(ctx(request)).loads(raw, max_age=60)
    except BadSignature:
        return None
    return notice if isinstance(notice, str) else None


# -- the guard every dashboard handler goes through ---------------------------------------------
Handler = Callable[[Request, Admin], Awaitable[Response]]


@dataclass(frozen=True)
class Form:
    """A posted form; checkboxes and multi-selects repeat a name, hence lists."""

    fields: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))


FormHandler = Callable[[Request, Admin, Form], Awaitable[Response]]


async def current_admin(request: Request) -> Admin | Response:
    """The signed-in admin, or the response to send instead (sign-in again, or 403)."""
    app = ctx(request)
    session_id = session_id_of(request)
    idle, lifetime = limits(app)
    live = (
        await sessions(app).touch(session_id, idle=idle, lifetime=lifetime) if session_id else None
    )
    if live is None:
        response = RedirectResponse("/admin/login", status_code=303)
        if session_id:
            clear_admin_cookie(response, app)
        return response
    user = await app.store.users.get(live.user_id)
    if user is None or user.blocked or not await app.store.roles.has(user.id, ADMIN):
        await sessions(app).end(live.id)
        response = message_page(
            request,
            "Not allowed",
            "This account may not use the admin dashboard.",
            status_code=403,
        )
        clear_admin_cookie(response, app)
        return response
    return Admin(user, live.id, csrf_for(app, live.id))


def admin_get(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        admin = await current_admin(request)
        if isinstance(admin, Response):
            return admin
        return await handler(request, admin)

    return endpoint


def admin_post(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """A POST handler: signed-in admin, size-limited form, and a CSRF token bound to the admin
    session (a token from another session, or none, is refused before anything changes)."""

    async def endpoint(request: Request) -> Response:
        admin = await current_admin(request)
        if isinstance(admin, Response):
            return admin
        try:
            params = await read_params(request, ctx(request).settings.max_body_bytes)
            form = Form({k: [str(v) for v in vs] for k, vs in params.items()})
        except OAuth2Error:
            return message_page(request, "Bad request", "The form could not be read.", 400)
        submitted = form.get("csrf")
        if not submitted or not hmac.compare_digest(submitted.encode(), admin.csrf.encode()):
            return message_page(
                request,
                "Form expired",
                "This form has expired. Go back, reload the page and try again.",
                status_code=403,
            )
        return await handler(request, admin, form)

    return endpoint
