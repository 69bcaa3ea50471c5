"""Issuing tokens after the password grant (with or without MFA): a new token family, an
access token, an ID token with `openid`, a refresh token with `offline_access` — the same
response the authorization code grant gives."""

from __future__ import annotations

from typing import Any

from provider.clock import now
from provider.context import AppContext
from provider.db.records import User
from provider.oauth.grants.user_tokens import new_family, token_response
from provider.oauth.models import OAuthClient
from provider.oauth.oidc import user_claims


def id_token(
    app: AppContext,
    client_id: str,
    user: User,
    scope: str,
    auth_time: int,
    amr: list[str],
    acr: str | None,
) -> str:
    issued_at = now()
    claims: dict[str, Any] = {
        **user_claims(user, scope),
        "iss": app.settings.issuer,
        "aud": client_id,
        "azp": client_id,
        "iat": issued_at,
        "exp": issued_at + app.settings.id_token_ttl,
        "auth_time": auth_time,
        "amr": amr,
    }
    if acr:
        claims["acr"] = acr
    return app.keys.sign(claims, typ="JWT")


async def issue_tokens(
    app: AppContext,
    client: OAuthClient,
    user: User,
    *,
    scope: str,
    audience: str | None,
    amr: list[str],
    acr: str | None,
) -> dict[str, Any]:
    auth_time = now()
    family = new_family(
        client_id=client.client_id,
        user_id=user.id,
        scope=scope,
        audience=audience,
        auth_time=auth_time,
        amr=amr,
        acr=acr,
        lifetime=app.settings.refresh_token_ttl,
    )
    token, refresh = token_response(
        app.oauth, family, scope, with_refresh=client.check_grant_type("refresh_token")
    )
    if "openid" in scope.split():
        token["id_token"] = id_token(app, client.client_id, user, scope, auth_time, amr, acr)
    await app.store.tokens.create_grant(family, app.box.keyed_hash(refresh) if refresh else None)
    return token
