"""RP-initiated logout at /oidc/logout (OIDC RP-Initiated Logout 1.0) and /v2/logout (Auth0).

The browser is sent back only to a URI registered for the client as a logout URL. Without a
valid `id_token_hint`, the user confirms on a page first, so a third-party page cannot sign
users out by linking here.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.base import OAuth2Error
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.context import AppContext, ctx
from provider.login.browser import (
    Browser,
    clear_session_cookie,
    csrf_ok,
    csrf_token,
    current_session,
    read_browser,
    remember_browser,
)
from provider.login.render import error_page, page
from provider.oauth.keys import InvalidJWT
from provider.oauth.params import first_values, read_params


async def _end_session(
    app: AppContext, browser: Browser, target: str | None, request: Request
) -> Response:
    if browser.session_id:
        await app.store.sessions.end_session(browser.session_id)
    response: Response
    if target:
        response = RedirectResponse(target, status_code=302)
    else:
        response = page(request, browser, "pages/signed_out.html")
    clear_session_cookie(response, app)
    remember_browser(response, app, browser)
    return response


async def logout(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    try:
        values = first_values(await read_params(request, app.settings.max_body_bytes))
    except OAuth2Error as exc:
        return error_page(request, browser, "Sign-out failed", str(exc.description))
    auth0_style = request.url.path.startswith("/v2/")
    target = values.get("returnTo") if auth0_style else values.get("post_logout_redirect_uri")
    client_id = values.get("client_id")

    hint_sub = None
    if values.get("id_token_hint"):
        try:
            claims = app.keys.verify(values["id_token_hint"], check_exp=False)
        except InvalidJWT:
            return error_page(request, browser, "Sign-out failed", "The id_token_hint is invalid.")
        aud = claims.get("aud")
        hint_client = aud[0] if isinstance(aud, list) and aud else aud
        if client_id and client_id != hint_client:
            return error_page(
                request, browser, "Sign-out failed", "client_id does not match the id_token_hint."
            )
        client_id, hint_sub = str(hint_client), claims.get("sub")

    if target:
        client = await app.store.clients.get(client_id) if client_id else None
        if client is None or target not in client.post_logout_redirect_uris:
            return error_page(
                request,
                browser,
                "Sign-out failed",
                "The return URL is not registered for this application.",
            )
        if values.get("state") and not auth0_style:
            target += ("&" if "?" in target else "?") + urlencode({"state": values["state"]})

    session = await current_session(app, browser)
    confirmed = request.method == "POST" and csrf_ok(app, browser, "logout", values.get("csrf"))
    hint_matches = hint_sub is not None and (session is None or session.user_id == hint_sub)
    if session is None or hint_matches or confirmed:
        return await _end_session(app, browser, target, request)
    forwarded = {k: v for k, v in values.items() if k != "csrf"}
    return page(
        request,
        browser,
        "pages/logout_confirm.html",
        {
            "csrf": csrf_token(app, browser, "logout"),
            "action": request.url.path,
            "fields": forwarded,
        },
    )
