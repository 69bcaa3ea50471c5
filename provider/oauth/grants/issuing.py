"""What every token-issuing grant shares: minting from the request's `Exchange`."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError

from provider.oauth.exchange import Exchange
from provider.oauth.params import safe_echo


class IssuingGrantMixin:
    """Replaces Authlib's server-wide token generator: each grant builds its token dict from
    the prefetched state and records the write in `exchange.commit`."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    request: Any
    server: Any

    @property
    def exchange(self) -> Exchange:
        return self.request.exchange

    def requested_audience(self) -> str | None:
        audience = self.request.payload.data.get("audience")
        if audience is None or audience == "":
            return None
        client = self.request.client.record
        if audience not in client.audiences:
            # No double quote or backslash in an error description (RFC 6749 §5.2): Authlib
            # raises ValueError (a 500) on them.
            raise InvalidRequestError(
                f"Client is not authorized to access '{safe_echo(audience)}'."
            )
        return audience
