"""Who is calling /mfa/*: the user behind an mfa_token, or behind an access token for the MFA
API (audience `<issuer>mfa/`, issued only after MFA) carrying the scope the call needs."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from provider.context import AppContext
from provider.db.mfa import MfaTransaction
from provider.db.records import User
from provider.mfa_api.errors import ApiError, error
from provider.mfa_api.mfa_token import resolve_mfa_token
from provider.mfa_api.scopes import mfa_audience
from provider.oauth.keys import InvalidJWT


@dataclass(frozen=True)
class Caller:
    user: User
    tx: MfaTransaction | None  # set when the caller holds an mfa_token
    client_id: str | None


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        raise error("no_token")
    return token


async def _access_token_user(app: AppContext, token: str, scope: str) -> Caller:
    try:
        claims = app.minter.verify_access_token(token)
    except InvalidJWT as exc:
        raise error("bad_token") from exc
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if mfa_audience(app.settings.issuer) not in audiences:
        raise error("bad_token")
    if await app.store.tokens.is_revoked(str(claims.get("jti")), claims.get("gid")):
        raise error("bad_token")
    if scope not in str(claims.get("scope", "")).split():
        raise error("insufficient_scope")
    user = await app.store.users.get(str(claims.get("sub")))
    if user is None or user.blocked:
        raise error("bad_token")
    return Caller(user, None, claims.get("client_id"))


async def caller(app: AppContext, request: Request, scope: str, *, allow_mfa_token: bool) -> Caller:
    token = bearer_token(request)
    if token.count(".") == 2:  # a JWT: an access token
        return await _access_token_user(app, token, scope)
    if not allow_mfa_token:
        raise error("bad_token")
    try:
        tx, user = await resolve_mfa_token(app.store, app.box, token, None)
    except ApiError as exc:
        # As a Bearer credential an unknown mfa_token is an invalid token (RFC 6750).
        raise (exc if exc.status == 401 else error("bad_token")) from None
    return Caller(user, tx, tx.client_id)
