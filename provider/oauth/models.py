"""Adapters that give Authlib the model interfaces it expects over provider's records."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from provider.clock import now
from provider.db.records import AuthorizationCodeRecord, ClientRecord, RefreshTokenRecord
from provider.security.secrets import SecretBox

# Scopes every user-facing client may ask for; API scopes come from the client's registration.
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]")
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def _is_loopback_match(registered: str, requested: str) -> bool:
    """RFC 8252 §7.3: for loopback IP redirects only the port may differ."""
    a, b = urlsplit(registered), urlsplit(requested)
    if a.scheme != "http" or b.scheme != "http":
        return False
    if "@" in b.netloc or not re.fullmatch(r"(127\.0\.0\.1|\[::1\])(:\d{1,5})?", b.netloc):
        return False  # userinfo ("127.0.0.1:80@evil") or a junk port would leave loopback
    host_a = a.netloc.rsplit(":", 1)[0] if not a.netloc.endswith("]") else a.netloc
    host_b = b.netloc.rsplit(":", 1)[0] if not b.netloc.endswith("]") else b.netloc
    return (
        host_a in LOOPBACK_HOSTS
        and host_a == host_b
        and (a.path, a.query) == (b.path, b.query)
        and not b.fragment
    )


class OAuthClient(ClientMixin):
    def __init__(self, record: ClientRecord, box: SecretBox) -> None:
        self.record = record
        self._box = box

    @property
    def client_id(self) -> str:
        return self.record.id

    def get_client_id(self) -> str:
        return self.record.id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.record.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def allowed_scopes(self) -> set[str]:
        return set(OIDC_SCOPES) | set(self.record.scopes)

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = self.allowed_scopes()
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.record.redirect_uris:
            return True
        return self.record.is_public and any(
            _is_loopback_match(uri, redirect_uri) for uri in self.record.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return self._box.matches(client_secret, self.record.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.record.is_public:
            return method == "none"
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.record.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.record.grant_types


class AuthorizationCode(AuthorizationCodeMixin):
    def __init__(self, record: AuthorizationCodeRecord) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return self.record.auth_time

    def get_acr(self) -> str | None:
        return self.record.acr

    def get_amr(self) -> list[str] | None:
        return self.record.amr or None


class RefreshToken(TokenMixin):
    def __init__(self, record: RefreshTokenRecord) -> None:
        self.record = record

    def check_client(self, client: ClientMixin) -> bool:
        return self.record.grant.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.record.grant.scope

    def get_expires_in(self) -> int:
        return max(0, self.record.grant.expires_at - now())

    def is_expired(self) -> bool:
        return self.record.grant.expires_at <= now()

    def is_revoked(self) -> bool:
        return self.record.grant.revoked_at is not None
