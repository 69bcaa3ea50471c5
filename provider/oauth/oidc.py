"""OpenID Connect on the authorization code grant: ID tokens and the claims they carry."""

from __future__ import annotations

from typing import Any

from authlib.oidc.core.grants import OpenIDCode

from provider.clock import now
from provider.db.records import User

# Claims released per scope (OpenID Connect Core §5.4).
SCOPE_CLAIMS = {
    "profile": ("name",),
    "email": ("email", "email_verified"),
}


def user_claims(user: User, scope: str) -> dict[str, Any]:
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        if user.name:
            claims["name"] = user.name
        claims["updated_at"] = user.updated_at
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims


class ProviderOpenIDCode(OpenIDCode):
    def __init__(self, server: Any) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # Nonce replay is detected by the relying party, which compares it with its own.
        return False

    def resolve_client_private_key(self, client: Any) -> Any:
        return self._server.keys.signing_key

    def get_client_algorithm(self, client: Any) -> str:
        return self._server.keys.alg

    def get_encode_header(self, client: Any) -> dict[str, str]:
        return self._server.keys.header()

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        issued_at = now()
        return {
            "iss": self._server.settings.issuer,
            "aud": client.get_client_id(),
            "azp": client.get_client_id(),
            "iat": issued_at,
            "exp": issued_at + self._server.settings.id_token_ttl,
        }

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        return user_claims(user, scope)
