"""Hosted sign-in and consent pages."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.context import AppContext, ctx
from provider.db.records import LoginTransaction
from provider.federation.pages import connection_buttons
from provider.login.browser import (
    Browser,
    csrf_token,
    current_session,
    read_browser,
    remember_browser,
    set_session_cookie,
)
from provider.login.forms import FormRejected, read_form
from provider.login.mfa_pages import begin_mfa, enrollment_page
from provider.login.render import error_page, page
from provider.mfa.api import EnrollmentError
from provider.mfa.context import current_client_address
from provider.mfa.engine import MFA_ACR, user_view
from provider.oauth.authorize import deny_authorization
from provider.security.passwords import MAX_PASSWORD_LENGTH, verify_password
from provider.security.throttle import LoginThrottle

WRONG_CREDENTIALS = "Wrong email or password."
TOO_MANY_ATTEMPTS = "Too many failed attempts. Wait a few minutes and try again."
SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay signed in to the application",
}


def _expired(request: Request, browser: Browser) -> Response:
    return error_page(
        request, browser, "This sign-in has expired", "Return to the application and sign in again."
    )


async def _transaction(
    app: AppContext, browser: Browser, tx_id: str | None
) -> LoginTransaction | None:
    if not tx_id or len(tx_id) > 100:
        return None
    return await app.store.sessions.get_transaction(tx_id, browser.id)


async def _login_page(
    request: Request,
    browser: Browser,
    tx: LoginTransaction | None,
    error: str | None = None,
    email: str = "",
    status_code: int = 200,
) -> Response:
    app = ctx(request)
    return page(
        request,
        browser,
        "pages/login.html",
        {
            "tx": tx.id if tx else "",
            "csrf": csrf_token(app, browser, "login"),
            "error": error,
            "email": email,
            "connections": await connection_buttons(app),
        },
        status_code=status_code,
    )


async def login_form(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    tx_id = request.query_params.get("tx")
    tx = await _transaction(app, browser, tx_id)
    if tx_id and tx is None:
        return _expired(request, browser)
    return await _login_page(request, browser, tx)


async def login_submit(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    try:
        form = await read_form(request, browser, "login")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    tx = await _transaction(app, browser, form.get("tx"))
    if form.get("tx") and tx is None:
        return _expired(request, browser)
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")[:MAX_PASSWORD_LENGTH]
    throttle = LoginThrottle(app.store, app.box)
    address = request.client.host if request.client else "unknown"
    if await throttle.blocked(email, address):
        return await _login_page(request, browser, tx, TOO_MANY_ATTEMPTS, email, status_code=429)
    user = await app.store.users.by_email(email) if email else None
    # Always verify (a dummy hash for unknown users) so both failures look and time alike.
    ok = await verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.blocked:
        await throttle.failed(email, address)
        return await _login_page(request, browser, tx, WRONG_CREDENTIALS, email, status_code=401)
    await throttle.succeeded(email, address)
    session = await app.store.sessions.create_session(
        user.id, amr=["pwd"], acr=None, ttl=app.settings.session_ttl
    )
    target = "/account"
    if tx is not None:
        await app.store.sessions.mark_authenticated(tx.id)
        target = "/authorize/resume?" + urlencode({"tx": tx.id})
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, app, session)
    remember_browser(response, app, browser)
    return response


async def consent_form(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    tx = await _transaction(app, browser, request.query_params.get("tx"))
    session = await current_session(app, browser)
    if tx is None or session is None:
        return _expired(request, browser)
    client = await app.store.clients.get(tx.client_id)
    if client is None:
        return _expired(request, browser)
    user = await app.store.users.get(session.user_id)
    scopes = (tx.params.get("scope") or [""])[0].split()
    return page(
        request,
        browser,
        "pages/consent.html",
        {
            "tx": tx.id,
            "csrf": csrf_token(app, browser, "consent"),
            "client_name": client.name,
            "user_email": user.email if user else "",
            "scopes": [SCOPE_DESCRIPTIONS.get(s, s) for s in dict.fromkeys(scopes)],
        },
    )


async def consent_submit(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    try:
        form = await read_form(request, browser, "consent")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    tx = await _transaction(app, browser, form.get("tx"))
    session = await current_session(app, browser)
    if tx is None or session is None:
        return _expired(request, browser)
    if form.get("decision") == "allow":
        scopes = set((tx.params.get("scope") or [""])[0].split())
        await app.store.sessions.grant_consent(session.user_id, tx.client_id, scopes)
        await app.store.sessions.mark_consented(tx.id)
        return RedirectResponse("/authorize/resume?" + urlencode({"tx": tx.id}), status_code=303)
    return await deny_authorization(request, browser, tx)


async def account(request: Request) -> Response:
    """Where a user lands after signing in directly: their second factors and recovery code."""
    app = ctx(request)
    browser = read_browser(request)
    session = await current_session(app, browser)
    user = await app.store.users.get(session.user_id) if session else None
    if user is None or session is None:
        return RedirectResponse("/login", status_code=303)
    methods = [
        {"label": factor.display_name, "detail": auth.name}
        for factor, auth in await app.mfa.usable(user)
    ]
    return page(
        request,
        browser,
        "pages/account.html",
        {
            "email": user.email,
            "csrf": csrf_token(app, browser, "logout"),
            "account_csrf": csrf_token(app, browser, "account"),
            "methods": methods,
            "can_regenerate": bool(methods) and "recovery-code" in await app.mfa.enabled_ids(),
            "new_code": None,
            "email_verified": user.email_verified,
            "can_add_email": bool(methods) and "email" in await app.mfa.enabled_ids(),
        },
    )


async def regenerate_recovery_code(request: Request) -> Response:
    """A new recovery code from the user's account; needs a session that passed MFA (others
    are sent through MFA first and come back here)."""
    app = ctx(request)
    browser = read_browser(request)
    try:
        await read_form(request, browser, "account")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    session = await current_session(app, browser)
    user = await app.store.users.get(session.user_id) if session else None
    if user is None or session is None:
        return RedirectResponse("/login", status_code=303)
    if session.acr != MFA_ACR:
        return await begin_mfa(app, browser, user.id, session.id, None, None)
    factor = app.mfa.factor("recovery-code")
    if factor is None or "recovery-code" not in await app.mfa.enabled_ids():
        return error_page(request, browser, "Not available", "Recovery codes are turned off.")
    codes = await factor.provision(user_view(user))
    return page(
        request,
        browser,
        "pages/account.html",
        {
            "email": user.email,
            "csrf": csrf_token(app, browser, "logout"),
            "account_csrf": csrf_token(app, browser, "account"),
            "methods": [],
            "can_regenerate": False,
            "new_code": codes[0] if codes else None,
            "email_verified": user.email_verified,
        },
    )


async def add_email_authenticator(request: Request) -> Response:
    """Enroll an extra address for sign-in codes; needs a session that passed MFA."""
    app = ctx(request)
    browser = read_browser(request)
    try:
        form = await read_form(request, browser, "account")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    session = await current_session(app, browser)
    user = await app.store.users.get(session.user_id) if session else None
    if user is None or session is None:
        return RedirectResponse("/login", status_code=303)
    if session.acr != MFA_ACR:
        return await begin_mfa(app, browser, user.id, session.id, None, None)
    tx = await app.store.mfa.begin(
        user.id,
        ttl=app.mfa.limits.transaction_ttl,
        session_id=session.id,
        browser_id=browser.id,
    )
    current_client_address.set(request.client.host if request.client else None)
    try:
        await app.mfa.begin_address_enrollment(tx.id, user, form.get("address", "")[:320])
    except EnrollmentError as exc:
        return error_page(request, browser, "Cannot add this address", str(exc))
    shown = {
        "instructions": "Enter the 6-digit code we sent to the new address.",
        "secret": None,
        "uri": None,
        "qr": None,
        "input_label": "Code",
        "input_mode": "numeric",
    }
    return enrollment_page(request, browser, tx.id, shown)
