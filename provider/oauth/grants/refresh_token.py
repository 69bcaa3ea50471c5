"""refresh_token with rotation on every use; reuse of a rotated token revokes the family."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants

from provider.oauth.grants.issuing import IssuingGrantMixin
from provider.oauth.grants.user_tokens import token_response
from provider.oauth.models import RefreshToken


class RefreshTokenGrant(IssuingGrantMixin, grants.RefreshTokenGrant):
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        exchange = self.exchange
        record = exchange.refresh
        if record is None:
            return None
        token = RefreshToken(record)
        if record.rotated_at is not None:
            # Reuse of a rotated token: someone holds a stolen copy. Revoke the family.
            store, grant_id = self.server.store, record.grant.id
            exchange.on_failure.append(
                lambda: store.tokens.revoke_grant(grant_id, "refresh_token_reuse")
            )
            return None
        if token.is_revoked() or token.is_expired():
            return None
        return token

    def authenticate_user(self, refresh_token: RefreshToken) -> Any:
        user = self.exchange.user
        if user is None or user.blocked:
            return None
        return user

    def generate_token(self, user: Any = None, scope: Any = None, **_: Any) -> dict[str, Any]:
        record = self.exchange.refresh
        assert record is not None
        token, refresh = token_response(self.server, record.grant, scope, with_refresh=True)
        if refresh is None:  # scope narrowed without offline_access: keep the family usable
            refresh = self.server.minter.refresh_token()
            token["refresh_token"] = refresh
        self.exchange.extra["refresh"] = refresh
        return token

    def save_token(self, token: dict[str, Any]) -> None:
        exchange, store, box = self.exchange, self.server.store, self.server.box
        record = exchange.refresh
        assert record is not None and exchange.refresh_hash is not None
        old_hash, new_hash = exchange.refresh_hash, box.keyed_hash(exchange.extra["refresh"])

        async def commit() -> bool:
            won = await store.tokens.rotate_refresh(old_hash, new_hash, record.grant.id)
            if not won:  # used concurrently by someone else: that is reuse too
                await store.tokens.revoke_grant(record.grant.id, "refresh_token_reuse")
            return won

        exchange.commit = commit

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Rotation happens atomically in the commit."""
