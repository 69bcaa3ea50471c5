"""Issuing tokens for a user within a token family (authorization code, refresh, password)."""

from __future__ import annotations

from typing import Any

from provider.clock import now
from provider.db.records import TokenGrant
from provider.security.secrets import new_id


def new_family(
    *,
    client_id: str,
    user_id: str,
    scope: str,
    audience: str | None,
    auth_time: int | None,
    amr: list[str],
    acr: str | None,
    lifetime: int,
) -> TokenGrant:
    stamp = now()
    return TokenGrant(
        id=new_id("grt", 16),
        client_id=client_id,
        user_id=user_id,
        scope=scope,
        audience=audience,
        auth_time=auth_time,
        amr=amr,
        acr=acr,
        created_at=stamp,
        expires_at=stamp + lifetime,
        revoked_at=None,
    )


def token_response(
    server: Any, family: TokenGrant, scope: str, *, with_refresh: bool
) -> tuple[dict[str, Any], str | None]:
    """The token dict for a family, and the plain refresh token if one is issued."""
    minter = server.minter
    audiences: list[str] = []
    if family.audience:
        audiences.append(family.audience)
    if "openid" in scope.split() or not audiences:
        audiences.append(minter.userinfo_audience)
    issued = minter.access_token(
        client_id=family.client_id,
        subject=family.user_id,
        scope=scope,
        audience=audiences[0] if len(audiences) == 1 else audiences,
        grant_id=family.id,
    )
    token: dict[str, Any] = {
        "access_token": issued.value,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope,
    }
    refresh = None
    if with_refresh and "offline_access" in scope.split():
        refresh = minter.refresh_token()
        token["refresh_token"] = refresh
    return token, refresh
