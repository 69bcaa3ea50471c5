"""Hosted pages for email verification: the link opens a page whose button confirms (mail
scanners that follow links must not use up the single-use link), and signed-in users can ask
for a new link from their account page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from provider.context import ctx
from provider.login.browser import csrf_token, current_session, read_browser
from provider.login.forms import FormRejected, read_form
from provider.login.render import error_page, page
from provider.mail.verification import send_verification, verify_token

SEND_BURST, SEND_INTERVAL_MS = 3, 60_000  # per user: 3 links, then one a minute


async def confirm_page(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    token = request.query_params.get("token", "")[:2048]
    return page(
        request,
        browser,
        "pages/verify_email.html",
        {
            "token": token,
            "csrf": csrf_token(app, browser, "verify-email"),
            "result": None,
        },
    )


async def confirm(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    try:
        form = await read_form(request, browser, "verify-email")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    result = await verify_token(app.store, app.box, form.get("token", "")[:2048])
    return page(
        request,
        browser,
        "pages/verify_email.html",
        {"result": result},
        status_code=200 if result.ok else 400,
    )


async def send_from_account(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    try:
        await read_form(request, browser, "account")
    except FormRejected as exc:
        return error_page(request, browser, "Please try again", str(exc))
    session = await current_session(app, browser)
    user = await app.store.users.get(session.user_id) if session else None
    if user is None:
        return error_page(request, browser, "Signed out", "Sign in again.", status_code=401)
    if user.email_verified:
        return page(
            request,
            browser,
            "pages/message.html",
            {"title": "Already verified", "message": "Your email address is verified."},
        )
    if not await app.store.rate_limits.charge(
        f"verify-email:{user.id}", SEND_BURST, SEND_INTERVAL_MS
    ):
        return error_page(
            request,
            browser,
            "Please wait",
            "You have exceeded the amount of emails. Wait a few minutes and try again.",
            status_code=429,
        )
    await send_verification(app.settings, app.box, app.mailer, user)
    return page(
        request,
        browser,
        "pages/message.html",
        {
            "title": "Check your email",
            "message": f"We sent a link to {user.email}. Open it to verify your address.",
        },
    )
