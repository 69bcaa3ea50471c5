"""The authorization endpoint: validate with Authlib, then sign in, consent, or issue a code.

A request that needs the user's attention is saved as a login transaction bound to this browser;
the hosted pages (login, consent) work on the transaction and send the browser back through
`resume`, which runs the same checks again with the saved parameters.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.base import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, InteractionRequiredError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.clock import now
from provider.context import AppContext, ctx
from provider.db.records import LoginTransaction
from provider.login.browser import Browser, current_session, read_browser, remember_browser
from provider.login.mfa_pages import begin_mfa
from provider.login.render import error_page
from provider.login.state import LoginState
from provider.mfa.engine import MFA_ACR, asks_for_mfa
from provider.oauth.exchange import Exchange, current_exchange
from provider.oauth.models import OAuthClient
from provider.oauth.params import check_params, read_params
from provider.oauth.request import OAuthRequest
from provider.oauth.responses import to_response


class UnmetAuthenticationRequirements(OAuth2Error):
    """OpenID Connect Core errata: the requested acr cannot be met (no MFA factor is on)."""

    error = "unmet_authentication_requirements"
    description = "Multi-factor authentication was requested but no factor is enabled."


def _redirect(app: AppContext, browser: Browser, url: str) -> Response:
    response = RedirectResponse(url, status_code=302)
    remember_browser(response, app, browser)
    return response


def _error_redirect(app: AppContext, browser: Browser, error: OAuth2Error) -> Response:
    """Errors go back to the client only when its redirect URI was validated (Authlib sets
    `redirect_uri` exactly then); RFC 9207 `iss` rides along."""
    status, _, headers = error()
    location = dict(headers)["Location"]
    separator = "&" if "?" in location else "?"
    location += separator + urlencode({"iss": app.settings.issuer})
    return _redirect(app, browser, location)


def _max_age_exceeded(params: dict[str, str], auth_time: int) -> bool:
    raw = params.get("max_age")
    if raw is None or not raw.isdigit():
        return False
    # Whole seconds: an elapsed 0 may really be 0.9, so `>=`; max_age=0 then always
    # re-authenticates, as OIDC Core §3.1.2.1 says (equivalent to prompt=login).
    return now() - auth_time >= int(raw)


async def _signed_in(
    app: AppContext, browser: Browser, params: dict[str, str], tx: LoginTransaction | None
) -> LoginState | None:
    session = await current_session(app, browser)
    if session is None:
        return None
    user = await app.store.users.get(session.user_id)
    if user is None or user.blocked:
        return None
    state = LoginState.from_session(user, session)
    if tx is not None and tx.authenticated_at is not None and session.auth_time >= tx.created_at:
        return state  # authenticated for this very request: prompt=login / max_age are met
    prompts = params.get("prompt", "").split()
    if "login" in prompts or _max_age_exceeded(params, session.auth_time):
        return None
    return state


async def run_authorization(
    request: Request,
    browser: Browser,
    params: dict[str, list[str]],
    tx: LoginTransaction | None = None,
) -> Response:
    app = ctx(request)
    values = {k: v[0] for k, v in params.items() if v}
    exchange = Exchange()
    client_id = values.get("client_id")
    if client_id and len(client_id) <= 200:
        record = await app.store.clients.get(client_id)
        exchange.client = OAuthClient(record, app.box) if record else None
    current_exchange.set(exchange)
    login = await _signed_in(app, browser, values, tx)
    oauth_request = OAuthRequest("GET", str(request.url), request.headers, params, exchange)

    try:
        grant = app.oauth.get_consent_grant(oauth_request, end_user=login)
    except OAuth2Error as error:
        if error.redirect_uri:
            return _error_redirect(app, browser, error)
        return error_page(
            request,
            browser,
            "This sign-in request is invalid",
            f"{error.description or error.error}. Return to the application and try again.",
        )

    if login is None:
        tx = tx or await app.store.sessions.begin_transaction(
            browser.id, grant.client.get_client_id(), params, app.settings.login_transaction_ttl
        )
        return _redirect(app, browser, "/login?" + urlencode({"tx": tx.id}))

    client = grant.client
    if asks_for_mfa(values.get("acr_values")) and not await app.mfa.enabled_ids():
        return _error_redirect(
            app,
            browser,
            UnmetAuthenticationRequirements(
                redirect_uri=grant.redirect_uri, state=values.get("state")
            ),
        )
    if login.acr != MFA_ACR and await app.mfa.required(client.record, values.get("acr_values")):
        if "none" in values.get("prompt", "").split():
            return _error_redirect(
                app,
                browser,
                InteractionRequiredError(
                    redirect_uri=grant.redirect_uri, state=values.get("state")
                ),
            )
        tx = tx or await app.store.sessions.begin_transaction(
            browser.id, client.client_id, params, app.settings.login_transaction_ttl
        )
        response = await begin_mfa(
            app, browser, login.user.id, login.session_id, client.client_id, tx.id
        )
        remember_browser(response, app, browser)
        return response

    if not client.record.first_party:
        wanted = set(oauth_request.scope.split()) if oauth_request.scope else set()
        granted = await app.store.sessions.granted_scopes(login.user.id, client.client_id)
        asked = "consent" in values.get("prompt", "").split()
        consented_now = tx is not None and tx.consented_at is not None
        if not consented_now and (asked or not wanted <= granted):
            if "none" in values.get("prompt", "").split():
                return _error_redirect(
                    app,
                    browser,
                    ConsentRequiredError(
                        redirect_uri=grant.redirect_uri, state=values.get("state")
                    ),
                )
            tx = tx or await app.store.sessions.begin_transaction(
                browser.id, client.client_id, params, app.settings.login_transaction_ttl
            )
            return _redirect(app, browser, "/consent?" + urlencode({"tx": tx.id}))

    if tx is not None and not await app.store.sessions.complete_transaction(tx.id):
        return error_page(
            request,
            browser,
            "Already completed",
            "This sign-in was already completed. Return to the application.",
        )
    result = app.oauth.create_authorization_response(oauth_request, grant_user=login, grant=grant)
    if result.status < 400 and exchange.commit is not None:
        await exchange.commit()
    response = to_response(result)
    remember_browser(response, app, browser)
    return response


async def authorize(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    try:
        params = await read_params(request, app.settings.max_body_bytes)
        check_params(params, allow_repeats=True)  # Authlib names the repeated parameter
    except OAuth2Error as error:
        return error_page(
            request, browser, "This sign-in request is invalid", str(error.description)
        )
    return await run_authorization(request, browser, params)


async def resume(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    tx = await app.store.sessions.get_transaction(request.query_params.get("tx", ""), browser.id)
    if tx is None:
        return error_page(
            request,
            browser,
            "This sign-in has expired",
            "Return to the application and sign in again.",
        )
    return await run_authorization(request, browser, tx.params, tx)


async def deny_authorization(request: Request, browser: Browser, tx: LoginTransaction) -> Response:
    """The user declined: answer the client with access_denied (the request is re-validated,
    so the error can only go to a registered redirect URI)."""
    app = ctx(request)
    exchange = Exchange()
    record = await app.store.clients.get(tx.client_id)
    exchange.client = OAuthClient(record, app.box) if record else None
    current_exchange.set(exchange)
    oauth_request = OAuthRequest("GET", str(request.url), request.headers, tx.params, exchange)
    try:
        grant = app.oauth.get_consent_grant(oauth_request, end_user=None)
    except OAuth2Error:
        grant = None
    if grant is None or not await app.store.sessions.complete_transaction(tx.id):
        return error_page(
            request,
            browser,
            "This sign-in has expired",
            "Return to the application and sign in again.",
        )
    result = app.oauth.create_authorization_response(oauth_request, grant_user=None, grant=grant)
    response = to_response(result)
    remember_browser(response, app, browser)
    return response
