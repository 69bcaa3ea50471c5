"""Hosted MFA pages: challenge, "Try another method", enrollment, recovery codes shown once.

Each page works on an MFA transaction bound to this browser; the engine does the deciding and
checking, these handlers only translate forms into engine calls and outcomes into pages.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.context import AppContext, ctx
from provider.db.mfa import MfaTransaction
from provider.db.records import User
from provider.login.browser import Browser, csrf_token, read_browser
from provider.login.forms import FormRejected, read_form
from provider.login.render import error_page, page
from provider.mfa.api import EnrollmentError
from provider.mfa.context import current_client_address
from provider.mfa.engine import MESSAGES, MFA_ACR, Outcome, challenge_record

DELAYED = (
    "Email delivery is running late: your code is queued and will arrive as soon as the mail "
    "server accepts it. You do not need to ask for another."
)
STATUS = {"invalid": 401, "throttled": 429, "locked": 429, "burned": 400, "expired": 400}


async def begin_mfa(
    app: AppContext,
    browser: Browser,
    user_id: str,
    session_id: str | None,
    client_id: str | None,
    login_tx_id: str | None,
) -> Response:
    """Start an MFA transaction for a signed-in first factor and send the browser to it."""
    tx = await app.store.mfa.begin(
        user_id,
        ttl=app.mfa.limits.transaction_ttl,
        client_id=client_id,
        session_id=session_id,
        login_tx_id=login_tx_id,
        browser_id=browser.id,
    )
    return RedirectResponse("/mfa?" + urlencode({"t": tx.id}), status_code=302)


async def _load(
    app: AppContext, browser: Browser, tx_id: str | None
) -> tuple[MfaTransaction, User] | None:
    if not tx_id or len(tx_id) > 100:
        return None
    tx = await app.store.mfa.get_live(tx_id)
    if tx is None or tx.browser_id != browser.id:
        return None
    user = await app.store.users.get(tx.user_id)
    if user is None or user.blocked:
        return None
    return tx, user


def _expired(request: Request, browser: Browser) -> Response:
    return error_page(request, browser, "This sign-in has expired", MESSAGES["expired"])


def _mfa_page(
    request: Request,
    browser: Browser,
    template: str,
    tx_id: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    """An MFA page: every one carries the transaction id and this browser's MFA CSRF token."""
    form = {"t": tx_id, "csrf": csrf_token(ctx(request), browser, "mfa")}
    return page(request, browser, template, {**form, **context}, status_code=status_code)


Loaded = tuple[MfaTransaction, User]


def _note_client(request: Request) -> None:
    """Factors apply per-address limits: tell them who is asking."""
    current_client_address.set(request.client.host if request.client else None)


async def _from_query(request: Request, browser: Browser) -> Loaded | Response:
    """The transaction named by ?t=, or the page to answer with instead."""
    _note_client(request)
    loaded = await _load(ctx(request), browser, request.query_params.get("t"))
    return loaded if loaded is not None else _expired(request, browser)


async def _from_form(
    request: Request, browser: Browser
) -> tuple[dict[str, str], MfaTransaction, User] | Response:
    """The CSRF-checked form and the transaction it names, or the page to answer with."""
    _note_client(request)
    try:
        form = await read_form(request, browser, "mfa")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    loaded = await _load(ctx(request), browser, form.get("t"))
    if loaded is None:
        return _expired(request, browser)
    return form, *loaded


async def _challenge_page(
    request: Request,
    browser: Browser,
    tx: MfaTransaction,
    challenge: dict[str, Any],
    *,
    others: bool,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    app = ctx(request)
    if challenge.get("resendable") and await app.store.outbox.delivery_troubled():
        # Said when the page is shown, not when the code was queued: delivery may have
        # started failing since.
        details = {**challenge.get("details", {}), "notice": DELAYED}
        challenge = {**challenge, "details": details}
    return _mfa_page(
        request,
        browser,
        "pages/mfa_challenge.html",
        tx.id,
        {
            "challenge": challenge,
            "others": others,
            "error": error,
        },
        status_code=status_code,
    )


async def challenge_page(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    loaded = await _from_query(request, browser)
    if isinstance(loaded, Response):
        return loaded
    tx, user = loaded
    usable = await app.mfa.usable(user)
    if not usable:
        return RedirectResponse("/mfa/enroll?" + urlencode({"t": tx.id}), status_code=303)
    challenge = tx.challenge
    if not challenge or challenge.get("enrollment"):
        # First visit: challenge the preferred authenticator. Reloads re-show the stored
        # challenge instead of issuing a new one (which would resend an email code).
        factor, authenticator = await app.mfa.choose(user, usable)
        try:
            issued = await app.mfa.challenge(tx.id, user, factor, authenticator)
        except EnrollmentError as exc:
            return error_page(request, browser, "Cannot use this method", str(exc))
        challenge = challenge_record(factor, issued)
    return await _challenge_page(request, browser, tx, challenge, others=len(usable) > 1)


async def verify(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    posted = await _from_form(request, browser)
    if isinstance(posted, Response):
        return posted
    form, tx, user = posted
    outcome = await app.mfa.verify(tx.id, user, form.get("code", "")[:256])
    if outcome.accepted:
        return await _finish(request, browser, tx, outcome)
    if outcome.reason == "expired":
        return _expired(request, browser)
    usable = await app.mfa.usable(user)
    return await _challenge_page(
        request,
        browser,
        tx,
        tx.challenge or {},
        others=len(usable) > 1,
        error=outcome.message,
        status_code=STATUS[outcome.reason],
    )


async def methods_page(request: Request) -> Response:
    """Try another method: every usable authenticator, the current one included."""
    app = ctx(request)
    browser = read_browser(request)
    loaded = await _from_query(request, browser)
    if isinstance(loaded, Response):
        return loaded
    tx, user = loaded
    methods = [
        {
            "id": a.id,
            "label": f.display_name,
            "detail": a.name if a.name != f.display_name else None,
        }
        for f, a in await app.mfa.usable(user)
    ]
    return _mfa_page(
        request,
        browser,
        "pages/mfa_methods.html",
        tx.id,
        {
            "methods": methods,
        },
    )


async def select(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    posted = await _from_form(request, browser)
    if isinstance(posted, Response):
        return posted
    form, tx, user = posted
    usable = {a.id: (f, a) for f, a in await app.mfa.usable(user)}
    chosen = usable.get(form.get("authenticator_id", ""))
    if chosen is None:
        return error_page(request, browser, "Unknown method", "Choose one of the listed methods.")
    try:
        await app.mfa.challenge(tx.id, user, *chosen)
    except EnrollmentError as exc:
        return error_page(request, browser, "Cannot use this method", str(exc))
    return RedirectResponse("/mfa?" + urlencode({"t": tx.id}), status_code=303)


async def enroll_page(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    loaded = await _from_query(request, browser)
    if isinstance(loaded, Response):
        return loaded
    tx, _ = loaded
    factors = [{"id": f.id, "label": f.display_name} for f in await app.mfa.enrollable()]
    if not factors:
        return error_page(
            request,
            browser,
            "Multi-factor authentication unavailable",
            "This application requires a second factor, but none can be set up. Contact support.",
            status_code=403,
        )
    return _mfa_page(
        request,
        browser,
        "pages/mfa_enroll_choose.html",
        tx.id,
        {
            "factors": factors,
        },
    )


def enrollment_page(
    request: Request,
    browser: Browser,
    tx_id: str,
    enrollment: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return _mfa_page(
        request,
        browser,
        "pages/mfa_enroll.html",
        tx_id,
        {
            "enrollment": enrollment,
            "error": error,
        },
        status_code=status_code,
    )


async def enroll_start(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    posted = await _from_form(request, browser)
    if isinstance(posted, Response):
        return posted
    form, tx, user = posted
    if await app.mfa.usable(user):
        # Enrolling here is for users with nothing to answer with; others must pass MFA first.
        return RedirectResponse("/mfa?" + urlencode({"t": tx.id}), status_code=303)
    try:
        enrollment = await app.mfa.begin_enrollment(tx.id, user, form.get("factor", ""))
    except EnrollmentError as exc:
        return error_page(request, browser, "Cannot set up this method", str(exc))
    shown = {
        "instructions": enrollment.instructions,
        "secret": enrollment.secret,
        "uri": enrollment.uri,
        "input_label": enrollment.input_label,
        "input_mode": enrollment.input_mode,
        "qr": ("data:image/svg+xml;base64," + base64.b64encode(enrollment.qr_svg.encode()).decode())
        if enrollment.qr_svg
        else None,
    }
    return enrollment_page(request, browser, tx.id, shown)


async def enroll_confirm(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    posted = await _from_form(request, browser)
    if isinstance(posted, Response):
        return posted
    form, tx, user = posted
    outcome = await app.mfa.confirm_enrollment(tx.id, user, form.get("code", "")[:256])
    if outcome.accepted:
        return await _finish(request, browser, tx, outcome)
    if outcome.reason == "expired":
        return _expired(request, browser)
    stored = tx.challenge or {}
    retry = {
        "instructions": stored.get("instructions", ""),
        "secret": None,
        "uri": None,
        "qr": None,
        "input_label": stored.get("input_label", "Code"),
        "input_mode": stored.get("input_mode", "numeric"),
    }
    return enrollment_page(
        request, browser, tx.id, retry, error=outcome.message, status_code=STATUS[outcome.reason]
    )


async def _finish(
    request: Request, browser: Browser, tx: MfaTransaction, outcome: Outcome
) -> Response:
    """Record the second factor on the session, then continue the sign-in (after showing any
    new secret once)."""
    app = ctx(request)
    if tx.session_id:
        session = await app.store.sessions.get_session(tx.session_id)
        if session is None:
            return _expired(request, browser)
        amr = list(dict.fromkeys([*session.amr, *outcome.amr]))
        await app.store.sessions.upgrade_session(tx.session_id, amr=amr, acr=MFA_ACR)
    next_url = _next_url(tx)
    if outcome.secrets:
        return page(
            request,
            browser,
            "pages/mfa_secrets.html",
            {
                "secrets": outcome.secrets,
                "csrf": csrf_token(app, browser, "mfa-continue"),
                "next": tx.login_tx_id or "",
            },
        )
    return RedirectResponse(next_url, status_code=303)


def _next_url(tx: MfaTransaction) -> str:
    if tx.login_tx_id:
        return "/authorize/resume?" + urlencode({"tx": tx.login_tx_id})
    return "/account"


async def continue_login(request: Request) -> Response:
    """After the user saw (and saved) their recovery code."""
    browser = read_browser(request)
    try:
        form = await read_form(request, browser, "mfa-continue")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    login_tx = form.get("next", "")
    if login_tx and len(login_tx) <= 100:
        return RedirectResponse("/authorize/resume?" + urlencode({"tx": login_tx}), status_code=303)
    return RedirectResponse("/account", status_code=303)
