"""The hosted side of upstream sign-in: a "Continue with …" button starts a round trip to the
upstream; `/login/callback` finishes it and continues the login chain exactly as after a
password (MFA policy, email factor, consent, tokens to the relying party).

Every failure ends on a page in the layout with a link back to the sign-in page (a local path
provider built, so never an open redirect), and never in a 500.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

from cryptography.exceptions import InvalidTag
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.context import AppContext, ctx
from provider.db.connections import Connection
from provider.db.federation_states import FederationState
from provider.federation.accounts import UpstreamProfile, resolve_user
from provider.federation.errors import FederationError, UpstreamRefused
from provider.federation.id_token import validate_id_token
from provider.federation.upstream import (
    UpstreamClient,
    authorization_url,
    discover,
    exchange_code,
    fetch_jwks,
    fetch_userinfo,
)
from provider.login.browser import Browser, read_browser, remember_browser, set_session_cookie
from provider.login.forms import FormRejected, read_form
from provider.login.render import page
from provider.security.secrets import new_token

log = logging.getLogger("provider.federation")
CALLBACK_PATH = "login/callback"
ROUND_TRIP_TTL = 10 * 60  # seconds a user may spend at the upstream
# Upstream error codes are shown only when they look like one (RFC 6749 §4.1.2.1 syntax).
ERROR_CODE = re.compile(r"[a-z_]{1,64}")
# The whole amr of an upstream sign-in. Upstream amr/acr values are not copied: nothing an
# upstream claims (its own "mfa") can satisfy provider's MFA policy, which sees acr=None.
FEDERATED_AMR = ["fed"]
VERIFIER_CONTEXT = "federation-verifier"


def callback_url(app: AppContext) -> str:
    return app.settings.url(CALLBACK_PATH)


async def connection_buttons(app: AppContext) -> list[dict[str, str]]:
    """What the sign-in page shows: one "Continue with …" button per enabled connection."""
    return [
        {"name": c.name, "display_name": c.display_name}
        for c in await app.store.connections.list(enabled_only=True)
    ]


def _back(tx_id: str | None) -> str:
    return "/login?" + urlencode({"tx": tx_id}) if tx_id else "/login"


def failure_page(
    request: Request,
    browser: Browser,
    title: str,
    message: str,
    tx_id: str | None,
    status_code: int = 400,
) -> Response:
    return page(
        request,
        browser,
        "pages/connection_error.html",
        {"title": title, "message": message, "back": _back(tx_id)},
        status_code=status_code,
    )


def _unseal(app: AppContext, sealed: str, context: str | None, connection: Connection) -> str:
    """A sealed secret, or a FederationError when it no longer opens (the server secret was
    changed since it was sealed): a misconfiguration page, not a 500."""
    try:
        if context is None:
            return app.store.connections.client_secret(connection)
        return app.box.unseal(sealed, context).decode()
    except (InvalidTag, ValueError) as exc:
        raise FederationError(
            "This sign-in option is not available right now. Sign in another way.",
            detail="cannot unseal a secret (was the server secret changed?)",
        ) from exc


def _client(app: AppContext, connection: Connection) -> UpstreamClient:
    return UpstreamClient(
        name=connection.display_name,
        issuer=connection.issuer,
        client_id=connection.client_id,
        client_secret=_unseal(app, connection.client_secret_sealed, None, connection),
        scopes=tuple(connection.scopes),
        redirect_uri=callback_url(app),
    )


async def start(request: Request) -> Response:
    """POST /login/connection: remember the round trip server-side, go to the upstream."""
    app = ctx(request)
    browser = read_browser(request)
    try:
        form = await read_form(request, browser, "login")
    except FormRejected as exc:
        return failure_page(request, browser, "Please try again", str(exc), None)
    tx_id = form.get("tx") or None
    if tx_id and (
        len(tx_id) > 100 or await app.store.sessions.get_transaction(tx_id, browser.id) is None
    ):
        return failure_page(
            request,
            browser,
            "This sign-in has expired",
            "Return to the application and sign in again.",
            None,
        )
    name = form.get("connection", "")[:64]
    connection = await app.store.connections.by_name(name) if name else None
    if connection is None or not connection.enabled:
        return failure_page(
            request, browser, "Not available", "This sign-in option is not available.", tx_id
        )
    try:
        metadata = await discover(connection.issuer, connection.display_name)
    except FederationError as exc:
        log.warning("connection %s: %s", connection.name, exc.detail)
        return failure_page(request, browser, exc.title, exc.message, tx_id, exc.status_code)
    state, nonce, verifier = new_token(), new_token(), new_token(48)
    await app.store.federation_states.save(
        app.box.keyed_hash(state),
        browser_id=browser.id,
        connection_id=connection.id,
        login_tx_id=tx_id,
        nonce=nonce,
        code_verifier_sealed=app.box.seal(verifier.encode(), VERIFIER_CONTEXT),
        ttl=ROUND_TRIP_TTL,
    )
    try:
        client = _client(app, connection)
    except FederationError as exc:
        log.warning("connection %s: %s", connection.name, exc.detail)
        return failure_page(request, browser, exc.title, exc.message, tx_id, exc.status_code)
    target = authorization_url(client, metadata, state=state, nonce=nonce, verifier=verifier)
    response = RedirectResponse(target, status_code=303)
    remember_browser(response, app, browser)
    return response


async def callback(request: Request) -> Response:
    """GET /login/callback: the upstream's answer. State first (single use, this browser),
    then the upstream's error or the code exchange and ID token validation."""
    app = ctx(request)
    browser = read_browser(request)
    query = request.query_params
    state = query.get("state", "")
    round_trip = (
        await app.store.federation_states.consume(app.box.keyed_hash(state), browser.id)
        if state and len(state) <= 200
        else None
    )
    if round_trip is None:
        return failure_page(
            request,
            browser,
            "This sign-in has expired",
            "It was already used, took too long, or was started in another browser. Sign in again.",
            None,
        )
    tx_id = round_trip.login_tx_id
    connection = await app.store.connections.get(round_trip.connection_id)
    if connection is None or not connection.enabled:
        return failure_page(
            request, browser, "Not available", "This sign-in option is not available.", tx_id
        )
    try:
        user_id = await _finish(app, connection, round_trip, query)
    except FederationError as exc:
        log.warning("connection %s: %s %s", connection.name, type(exc).__name__, exc.detail)
        return failure_page(request, browser, exc.title, exc.message, tx_id, exc.status_code)

    tx = await app.store.sessions.get_transaction(tx_id, browser.id) if tx_id else None
    if tx_id and tx is None:  # the application's request expired while the user was away
        return failure_page(
            request,
            browser,
            "This sign-in has expired",
            "Return to the application and sign in again.",
            None,
        )
    session = await app.store.sessions.create_session(
        user_id, amr=FEDERATED_AMR, acr=None, ttl=app.settings.session_ttl
    )
    target = "/account"
    if tx is not None:
        await app.store.sessions.mark_authenticated(tx.id)
        target = "/authorize/resume?" + urlencode({"tx": tx.id})
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, app, session)
    remember_browser(response, app, browser)
    return response


async def _finish(
    app: AppContext, connection: Connection, round_trip: FederationState, query: QueryParams
) -> str:
    """The user id the upstream's answer signs in as, or a FederationError."""
    name = connection.display_name
    # RFC 9207: an `iss` in the response must be our upstream's (mix-up defence).
    if "iss" in query and query.get("iss") != connection.issuer:
        raise UpstreamRefused(
            f"The answer did not come from {name}. Start the sign-in again.",
            detail=f"authorization response iss {query.get('iss')!r}",
        )
    error = query.get("error")
    if error:
        if error == "access_denied":
            raise UpstreamRefused(
                f"Signing in with {name} was cancelled. Sign in again, or another way.",
                detail="access_denied",
            )
        code = error if ERROR_CODE.fullmatch(error) else "unknown"
        raise UpstreamRefused(
            f"{name} could not sign you in (error: {code}). Try again, or sign in another way.",
            detail=f"authorization error {error[:100]!r}",
        )
    code = query.get("code", "")
    if not code or len(code) > 2048:
        raise UpstreamRefused(
            f"{name} sent no sign-in code. Start the sign-in again.", detail="no code"
        )
    client = _client(app, connection)
    metadata = await discover(connection.issuer, name)
    verifier = _unseal(app, round_trip.code_verifier_sealed, VERIFIER_CONTEXT, connection)
    token = await exchange_code(client, metadata, code=code, verifier=verifier)
    claims = validate_id_token(
        token["id_token"],
        await fetch_jwks(metadata, name),
        issuer=connection.issuer,
        client_id=connection.client_id,
        nonce=round_trip.nonce,
        name=name,
        algorithms=metadata.id_token_algs,
    )
    if "email" not in claims and isinstance(token.get("access_token"), str):
        info = await fetch_userinfo(metadata, token["access_token"], name)
        if info.get("sub") == claims["sub"]:  # OIDC Core §5.3.2: same subject, or ignore
            claims = {**claims, **{k: info[k] for k in ("email", "email_verified") if k in info}}
    profile = UpstreamProfile.from_claims(connection.issuer, claims)
    user = await resolve_user(app.store, connection, profile)
    return user.id
