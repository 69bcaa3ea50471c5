"""client_credentials: a machine client asks for a JWT access token for one of its APIs."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidScopeError

from provider.oauth.grants.issuing import IssuingGrantMixin


class ClientCredentialsGrant(IssuingGrantMixin, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        client = self.request.client.record
        audience = self.requested_audience()
        if audience is None:
            if len(client.audiences) != 1:
                raise AccessDeniedError(
                    "No audience parameter was provided, and no default audience is configured."
                )
            audience = client.audiences[0]
        requested = self.request.payload.scope
        allowed = client.scopes
        if requested:
            wanted = requested.split()
            if not set(wanted) <= set(allowed):
                raise InvalidScopeError()
            scope = " ".join(dict.fromkeys(wanted))
        else:
            scope = " ".join(allowed)  # as Auth0 does: everything the client was granted
        self.exchange.extra["audience"] = audience
        self.exchange.extra["scope"] = scope

    def generate_token(self, **_: Any) -> dict[str, Any]:
        client = self.request.client.record
        issued = self.server.minter.access_token(
            client_id=client.id,
            subject=f"{client.id}@clients",
            scope=self.exchange.extra["scope"],
            audience=self.exchange.extra["audience"],
            extra={"gty": "client-credentials"},
        )
        token = {
            "access_token": issued.value,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        }
        if issued.claims["scope"]:
            token["scope"] = issued.claims["scope"]
        return token

    def save_token(self, token: dict[str, Any]) -> None:
        """Nothing to store: the JWT is self-contained."""
