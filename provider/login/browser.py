"""The browser's identity and session, carried in two signed cookies.

`provider_bid` names the browser (login transactions and CSRF tokens are bound to it);
`provider_session` carries the id of a server-side session row. Both are HttpOnly,
SameSite=Lax and Secure under https; neither holds anything but a signed random id, so ending
the row (logout) makes the cookie worthless.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

from provider.context import AppContext
from provider.db.records import Session
from provider.security.secrets import new_token

BROWSER_COOKIE = "provider_bid"
SESSION_COOKIE = "provider_session"


@dataclass
class Browser:
    id: str
    is_new: bool
    session_id: str | None


def _signer(app: AppContext, purpose: str) -> Signer:
    return Signer(app.box.signing_key, salt=f"provider.{purpose}")


def _unsign(app: AppContext, purpose: str, value: str | None) -> str | None:
    if not value or len(value) > 512:
        return None
    try:
        return _signer(app, purpose).unsign(value).decode()
    except BadSignature:
        return None


def read_browser(request: Request) -> Browser:
    app: AppContext = request.app.state.ctx
    browser_id = _unsign(app, "browser", request.cookies.get(BROWSER_COOKIE))
    session_id = _unsign(app, "session", request.cookies.get(SESSION_COOKIE))
    if browser_id:
        return Browser(browser_id, False, session_id)
    return Browser(new_token(18), True, session_id)


def _set(response: Response, app: AppContext, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=app.settings.cookies_secure,
        path="/",
    )


def remember_browser(response: Response, app: AppContext, browser: Browser) -> None:
    if browser.is_new:
        signed = _signer(app, "browser").sign(browser.id).decode()
        _set(response, app, BROWSER_COOKIE, signed, 400 * 24 * 3600)


def set_session_cookie(response: Response, app: AppContext, session: Session) -> None:
    signed = _signer(app, "session").sign(session.id).decode()
    _set(response, app, SESSION_COOKIE, signed, app.settings.session_ttl)


def clear_session_cookie(response: Response, app: AppContext) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=app.settings.cookies_secure,
    )


async def current_session(app: AppContext, browser: Browser) -> Session | None:
    if not browser.session_id:
        return None
    return await app.store.sessions.get_session(browser.session_id)


def csrf_token(app: AppContext, browser: Browser, form: str) -> str:
    message = f"csrf:{form}:{browser.id}".encode()
    return hmac.new(app.box.signing_key, message, hashlib.sha256).hexdigest()


def csrf_ok(app: AppContext, browser: Browser, form: str, submitted: str | None) -> bool:
    if browser.is_new or not submitted:
        return False
    return hmac.compare_digest(csrf_token(app, browser, form), submitted)
