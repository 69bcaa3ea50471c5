"""authorization_code with PKCE (S256 only) and OpenID Connect.

A code is single use: the exchange consumes it with a conditional update, and a second use
revokes the token family the first one created (RFC 9700 §4.5).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge

from provider.clock import now
from provider.db.records import AuthorizationCodeRecord
from provider.oauth.grants.issuing import IssuingGrantMixin
from provider.oauth.grants.user_tokens import new_family, token_response
from provider.oauth.models import AuthorizationCode


class S256CodeChallenge(CodeChallenge):
    """PKCE as RFC 9700 wants it: S256 only, and required of public clients."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if grant.request.client.record.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE ('code_challenge').")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")


class AuthorizationCodeGrant(IssuingGrantMixin, grants.AuthorizationCodeGrant):
    def validate_requested_scope(self) -> Any:
        # Check `audience` with the request, before sign-in: the error then goes back to the
        # (validated) redirect URI instead of surfacing when the code is saved.
        self.requested_audience()
        return super().validate_requested_scope()

    def save_authorization_code(self, code: str, request: Any) -> None:
        login = request.user  # a LoginState: the user and how they authenticated
        data = request.payload.data
        record = AuthorizationCodeRecord(
            code_hash=self.server.box.keyed_hash(code),
            client_id=request.client.get_client_id(),
            user_id=login.user.id,
            redirect_uri=data.get("redirect_uri") or "",
            scope=request.scope or "",
            audience=self.requested_audience(),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=login.auth_time,
            amr=login.amr,
            acr=login.acr,
            session_id=login.session_id,
            expires_at=now() + self.server.settings.authorization_code_ttl,
            used_at=None,
            grant_id=None,
        )
        store = self.server.store

        async def commit() -> bool:
            await store.tokens.save_code(record)
            return True

        self.exchange.commit = commit

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        exchange = self.exchange
        record = exchange.code
        if record is None or record.client_id != client.get_client_id():
            return None
        if record.used_at is not None:
            store, code_hash = self.server.store, exchange.code_hash
            exchange.on_failure.append(
                lambda: store.tokens.revoke_code_grant(code_hash, "code_replay")
            )
            return None
        if record.expires_at <= now():
            return None
        return AuthorizationCode(record)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Any:
        user = self.exchange.user
        if user is None or user.blocked:
            return None
        return user

    def generate_token(self, user: Any = None, scope: Any = None, **_: Any) -> dict[str, Any]:
        record = self.exchange.code
        assert record is not None
        family = new_family(
            client_id=record.client_id,
            user_id=user.id,
            scope=record.scope,
            audience=record.audience,
            auth_time=record.auth_time,
            amr=record.amr,
            acr=record.acr,
            lifetime=self.server.settings.refresh_token_ttl,
        )
        client = self.request.client
        token, refresh = token_response(
            self.server,
            family,
            record.scope,
            with_refresh=client.check_grant_type("refresh_token"),
        )
        self.exchange.extra["family"] = family
        self.exchange.extra["refresh"] = refresh
        return token

    def save_token(self, token: dict[str, Any]) -> None:
        exchange, store, box = self.exchange, self.server.store, self.server.box
        family, refresh = exchange.extra["family"], exchange.extra["refresh"]
        code_hash = exchange.code_hash
        assert code_hash is not None

        async def commit() -> bool:
            won = await store.tokens.exchange_code(
                code_hash, family, box.keyed_hash(refresh) if refresh else None
            )
            if not won:  # a concurrent exchange of the same code: treat as replay
                await store.tokens.revoke_code_grant(code_hash, "code_replay")
            return won

        exchange.commit = commit

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Consumed atomically in the commit instead."""
