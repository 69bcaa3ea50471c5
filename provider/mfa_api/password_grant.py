"""The resource owner password grant (`password`, and Auth0's `password-realm`).

Off unless a first-party client was given the `password` grant. The first factor is
throttled exactly like the hosted sign-in page (per account and per address) and unknown
users are answered like wrong passwords, after the same work. When MFA is required the
answer is Auth0's 403 `mfa_required` with an `mfa_token`.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from provider.context import AppContext
from provider.mfa_api.errors import NO_STORE, error
from provider.mfa_api.issue import issue_tokens
from provider.mfa_api.mfa_token import open_mfa_token
from provider.mfa_api.scopes import granted_scope, mfa_audience, requested_audience
from provider.oauth.models import OAuthClient
from provider.security.passwords import MAX_PASSWORD_LENGTH, verify_password
from provider.security.throttle import LoginThrottle

PASSWORD = "password"
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
# provider has one user store; it answers to Auth0's default database connection name so that
# apps written for Auth0 keep working unchanged.
REALMS = ("Username-Password-Authentication",)


async def password_grant(
    app: AppContext, client: OAuthClient, values: dict[str, str], address: str
) -> Response:
    if not client.check_grant_type(PASSWORD):
        raise error("grant_not_allowed")
    if values.get("grant_type") == PASSWORD_REALM and values.get("realm") not in REALMS:
        raise error("unknown_realm")
    username, password = values.get("username", ""), values.get("password", "")
    if not username or not password:
        raise error("missing_credentials")
    issuer = app.settings.issuer
    audience = requested_audience(client, issuer, values.get("audience"))
    scope = granted_scope(client, issuer, values.get("scope"), audience)

    throttle = LoginThrottle(app.store, app.box)
    email = username.strip()[:320]
    if await throttle.blocked(email, address):
        raise error("login_throttled")
    user = await app.store.users.by_email(email)
    # Always verify (a dummy hash for unknown users) so both failures look and time alike.
    ok = await verify_password(user.password_hash if user else None, password[:MAX_PASSWORD_LENGTH])
    if not ok or user is None or user.blocked:
        await throttle.failed(email, address)
        raise error("wrong_credentials")
    await throttle.succeeded(email, address)

    needs_mfa = audience == mfa_audience(issuer) or await app.mfa.required(client.record, None)
    if not needs_mfa:
        tokens = await issue_tokens(
            app, client, user, scope=scope, audience=audience, amr=["pwd"], acr=None
        )
        return JSONResponse(tokens, headers=NO_STORE)
    mfa_token = await open_mfa_token(app.store, app.box, user, client.client_id, scope, audience)
    return error("mfa_required").response(
        mfa_token=mfa_token, mfa_requirements=await app.mfa.requirements(user)
    )
