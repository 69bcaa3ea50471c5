"""The `mfa_token`: an opaque handle on a server-side MFA transaction of the engine.

Only a keyed hash of it is stored (as the transaction's id), so a copy of the database gives
no usable tokens. It is bound to the user, the client, and the scope and audience the
password grant asked for; it lives 10 minutes and is spent by the grant that completes it.
"""

from __future__ import annotations

import re

from provider.clock import now
from provider.db.mfa import MfaTransaction
from provider.db.records import User
from provider.db.store import Store
from provider.mfa_api.errors import error
from provider.security.secrets import SecretBox, new_token

MFA_TOKEN_TTL = 600
_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,100}")


async def open_mfa_token(
    store: Store, box: SecretBox, user: User, client_id: str, scope: str, audience: str | None
) -> str:
    token = new_token(32)
    await store.mfa.begin(
        user.id,
        ttl=MFA_TOKEN_TTL,
        client_id=client_id,
        tx_id=box.keyed_hash(token),
        scope=scope,
        audience=audience,
    )
    return token


async def resolve_mfa_token(
    store: Store, box: SecretBox, token: str | None, client_id: str | None
) -> tuple[MfaTransaction, User]:
    """The live transaction and its user; raises the table's errors otherwise. A token of
    another client reads as unknown: it must not reveal that it exists."""
    if not token:
        raise error("mfa_token_missing")
    if not _SHAPE.fullmatch(token):
        raise error("mfa_token_malformed")
    tx = await store.mfa.get(box.keyed_hash(token))
    if tx is None or not tx.is_api or tx.completed_at is not None:
        raise error("mfa_token_malformed")
    if client_id is not None and tx.client_id != client_id:
        raise error("mfa_token_malformed")
    if tx.expires_at <= now():
        raise error("mfa_token_expired")
    user = await store.users.get(tx.user_id)
    if user is None or user.blocked:
        raise error("mfa_token_malformed")
    return tx, user
