"""The async/sync bridge for Authlib.

Authlib's grants call plain functions (query_client, query_authorization_code, save_token …).
Instead of running Authlib in a thread that calls back into the event loop, each request runs in
three steps on the loop:

1. `prefetch` loads, asynchronously, every row the request can need (client, code, refresh
   token, user) into an `Exchange`;
2. Authlib validates the request synchronously against that `Exchange`; its save hooks only
   record a `commit` to run;
3. the endpoint awaits `commit`, which writes the results in one transaction with conditional
   updates. A commit that loses a race (a code or refresh token used concurrently) turns the
   response into `invalid_grant`, and `on_failure` actions (revocations) still run.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from provider.db.records import AuthorizationCodeRecord, RefreshTokenRecord, User
from provider.db.store import Store
from provider.oauth.models import OAuthClient
from provider.security.secrets import SecretBox

Action = Callable[[], Awaitable[Any]]


@dataclass
class Exchange:
    client: OAuthClient | None = None
    code_hash: str | None = None
    code: AuthorizationCodeRecord | None = None
    refresh_hash: str | None = None
    refresh: RefreshTokenRecord | None = None
    user: User | None = None
    commit: Callable[[], Awaitable[bool]] | None = None
    on_failure: list[Action] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # grant-specific prefetches


current_exchange: contextvars.ContextVar[Exchange] = contextvars.ContextVar("current_exchange")


def requested_client_id(params: dict[str, str], headers: Any) -> str | None:
    try:
        basic_id, basic_secret = extract_basic_authorization(headers)
    except ValueError as exc:  # non-ASCII header, or credentials that are not UTF-8
        raise InvalidClientError(
            description="The Authorization header is malformed.", status_code=401
        ) from exc
    if "\x00" in (basic_id or "") + (basic_secret or ""):  # PostgreSQL refuses NUL in text
        raise InvalidClientError(
            description="The Authorization header is malformed.", status_code=401
        )
    return basic_id or params.get("client_id")


async def prefetch(store: Store, box: SecretBox, params: dict[str, str], headers: Any) -> Exchange:
    exchange = Exchange()
    client_id = requested_client_id(params, headers)
    if client_id and len(client_id) <= 200:
        record = await store.clients.get(client_id)
        if record:
            exchange.client = OAuthClient(record, box)

    grant_type = params.get("grant_type")
    code = params.get("code")
    if grant_type == "authorization_code" and code and len(code) <= 200:
        exchange.code_hash = box.keyed_hash(code)
        exchange.code = await store.tokens.get_code(exchange.code_hash)
        if exchange.code:
            exchange.user = await store.users.get(exchange.code.user_id)
    refresh = params.get("refresh_token")
    if refresh and len(refresh) <= 200:
        exchange.refresh_hash = box.keyed_hash(refresh)
        if grant_type == "refresh_token":
            exchange.refresh = await store.tokens.get_refresh(exchange.refresh_hash)
            if exchange.refresh and exchange.refresh.grant.user_id:
                exchange.user = await store.users.get(exchange.refresh.grant.user_id)
    return exchange
