"""The Authlib authorization server, wired to provider's store, keys and grants.

Endpoints build an `OAuthRequest` from parameters they have read, `prefetch` an `Exchange`,
and call Authlib inside `run_authlib`, which returns an `AuthlibResult` the endpoint turns into
a Starlette response after awaiting the exchange's commit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter

from provider.db.store import Store
from provider.oauth.exchange import current_exchange
from provider.oauth.grants.authorization_code import AuthorizationCodeGrant, S256CodeChallenge
from provider.oauth.grants.client_credentials import ClientCredentialsGrant
from provider.oauth.grants.refresh_token import RefreshTokenGrant
from provider.oauth.keys import KeyRing
from provider.oauth.oidc import ProviderOpenIDCode
from provider.oauth.token_lookup import AccessToken
from provider.oauth.tokens import TokenMinter
from provider.security.secrets import SecretBox
from provider.settings import Settings


@dataclass
class AuthlibResult:
    """What Authlib answered: status, body (dict or str) and headers."""

    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))


class _Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer


class _Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenMixin | None:
        return current_exchange.get().extra.get("token")

    def revoke_token(self, token: TokenMixin, request: Any) -> None:
        exchange, store = current_exchange.get(), self.server.store
        if isinstance(token, AccessToken):
            jti, exp = str(token.claims["jti"]), int(token.claims["exp"])

            async def commit() -> bool:
                await store.tokens.revoke_access_token(jti, exp)
                return True
        else:
            grant_id = token.record.grant.id

            async def commit() -> bool:
                await store.tokens.revoke_grant(grant_id, "revoked_by_client")
                return True

        exchange.commit = commit


class _Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenMixin | None:
        return current_exchange.get().extra.get("token")

    def check_permission(self, token: TokenMixin, client: Any, request: Any) -> bool:
        # The client the token was issued to, or a resource server the token is meant for.
        if token.check_client(client):
            return True
        return isinstance(token, AccessToken) and bool(
            token.audiences() & set(client.record.audiences)
        )

    def introspect_token(self, token: TokenMixin) -> dict[str, Any]:
        if isinstance(token, AccessToken):
            claims = token.claims
            body = {
                k: claims[k]
                for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")
                if k in claims
            }
            body["token_type"] = "Bearer"
            return body
        grant = token.record.grant
        return {
            "scope": grant.scope,
            "client_id": grant.client_id,
            "sub": grant.user_id,
            "iss": self.server.settings.issuer,
            "exp": grant.expires_at,
            "iat": token.record.created_at,
            "token_type": "refresh_token",
        }


class ProviderAuthorizationServer(AuthorizationServer):
    def __init__(
        self, settings: Settings, store: Store, box: SecretBox, keys: KeyRing, minter: TokenMinter
    ) -> None:
        super().__init__(scopes_supported=None)
        if settings.issuer.startswith("http://"):
            # Plain-HTTP issuers are for development and loopback; Authlib needs telling.
            os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
        self.settings = settings
        self.store = store
        self.box = box
        self.keys = keys
        self.minter = minter
        self.register_grant(
            AuthorizationCodeGrant,
            [S256CodeChallenge(required=True), ProviderOpenIDCode(self)],
        )
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(_Revocation)
        self.register_endpoint(_Introspection)
        self.register_extension(lambda server: _Issuer(settings.issuer)(server))

    # -- what Authlib asks of an integration ------------------------------------------------
    def query_client(self, client_id: str) -> Any:
        client = current_exchange.get().client
        return client if client and client.get_client_id() == client_id else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        raise AssertionError("every grant saves its own tokens")

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # endpoints pass a ready OAuthRequest

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> AuthlibResult:
        return AuthlibResult(status, body, list(headers))
