"""Finding out what a presented token is: a live access token (JWT) or a refresh token.

Used by revocation and introspection; the lookup is async and runs before Authlib's endpoint
code, which then sees plain objects.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin

from provider.clock import now
from provider.db.store import Store
from provider.oauth.keys import InvalidJWT
from provider.oauth.models import RefreshToken
from provider.oauth.tokens import TokenMinter
from provider.security.secrets import SecretBox


class AccessToken(TokenMixin):
    def __init__(self, claims: dict[str, Any], revoked: bool) -> None:
        self.claims = claims
        self.revoked = revoked

    def check_client(self, client: Any) -> bool:
        return self.claims.get("client_id") == client.get_client_id()

    def audiences(self) -> set[str]:
        aud = self.claims.get("aud")
        return set(aud) if isinstance(aud, list) else {aud}

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return max(0, int(self.claims["exp"]) - now())

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= now()

    def is_revoked(self) -> bool:
        return self.revoked


async def look_up_token(
    token: str | None, hint: str | None, store: Store, box: SecretBox, minter: TokenMinter
) -> AccessToken | RefreshToken | None:
    if not token or len(token) > 8192:
        return None
    # The hint only orders the search; a wrong one must not hide the token (RFC 7009 §2.1,
    # RFC 7662 §2.1). Refresh tokens never contain dots, so trying the JWT first is safe.
    if token.count(".") == 2:
        try:
            claims = minter.verify_access_token(token)
        except InvalidJWT:
            claims = None
        if claims is not None:
            revoked = await store.tokens.is_revoked(str(claims.get("jti")), claims.get("gid"))
            return AccessToken(claims, revoked)
    record = await store.tokens.get_refresh(box.keyed_hash(token))
    if record is not None and record.rotated_at is None:
        return RefreshToken(record)
    return None
