"""Minting tokens: JWT access tokens (RFC 9068 profile) and opaque refresh tokens.

Access tokens are self-contained, so a resource server can check them against the JWKS alone;
those issued within a token family carry its id (`gid`) so that revoking the family (logout,
refresh-token reuse, code replay) also revokes them at userinfo and introspection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provider.clock import now
from provider.oauth.keys import KeyRing
from provider.security.secrets import new_id, new_token

ACCESS_TOKEN_TYP = "at+jwt"


@dataclass(frozen=True)
class IssuedAccessToken:
    value: str
    jti: str
    expires_in: int
    claims: dict[str, Any]


class TokenMinter:
    def __init__(self, keys: KeyRing, issuer: str, access_token_ttl: int) -> None:
        self._keys = keys
        self._issuer = issuer
        self.access_token_ttl = access_token_ttl

    @property
    def userinfo_audience(self) -> str:
        return self._issuer + "userinfo"

    def access_token(
        self,
        *,
        client_id: str,
        subject: str,
        scope: str,
        audience: str | list[str],
        grant_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> IssuedAccessToken:
        issued_at = now()
        jti = new_id("at", 16)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued_at,
            "exp": issued_at + self.access_token_ttl,
            "jti": jti,
            "client_id": client_id,
            "scope": scope,
        }
        if grant_id:
            claims["gid"] = grant_id
        if extra:
            claims.update(extra)
        value = self._keys.sign(claims, typ=ACCESS_TOKEN_TYP)
        return IssuedAccessToken(value, jti, self.access_token_ttl, claims)

    @staticmethod
    def refresh_token() -> str:
        return new_token(32)

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Claims of a live access token signed here; raises InvalidJWT otherwise."""
        return self._keys.verify(token, typ=ACCESS_TOKEN_TYP)
