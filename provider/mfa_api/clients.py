"""Client authentication for the first-party grants and /mfa/challenge, through Authlib's
own methods (client_secret_basic with percent-decoding, client_secret_post, none)."""

from __future__ import annotations

from typing import Any

from provider.context import AppContext
from provider.oauth.exchange import Exchange, current_exchange, requested_client_id
from provider.oauth.models import OAuthClient
from provider.oauth.params import first_values
from provider.oauth.request import OAuthRequest

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


async def authenticate_client(
    app: AppContext, method: str, url: str, headers: Any, params: dict[str, list[str]]
) -> OAuthClient:
    """The authenticated client; raises Authlib's InvalidClientError otherwise."""
    exchange = Exchange()
    client_id = requested_client_id(first_values(params), headers)
    if client_id and len(client_id) <= 200:
        record = await app.store.clients.get(client_id)
        if record:
            exchange.client = OAuthClient(record, app.box)
    current_exchange.set(exchange)  # Authlib's query_client reads it
    request = OAuthRequest(method, url, headers, params, exchange)
    client: OAuthClient = app.oauth.authenticate_client(request, AUTH_METHODS)
    return client
