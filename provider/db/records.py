"""Plain records the store returns: no database types escape the db package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads_list(text: str | None) -> list[str]:
    return list(json.loads(text)) if text else []


@dataclass(frozen=True)
class User:
    id: str
    email: str
    email_verified: bool
    password_hash: str | None
    name: str | None
    blocked: bool
    created_at: int
    updated_at: int

    def public(self) -> dict[str, Any]:
        return {
            "user_id": self.id,
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name,
            "blocked": self.blocked,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class ClientRecord:
    id: str
    name: str
    secret_hash: str | None
    is_public: bool
    first_party: bool
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    audiences: list[str]
    scopes: list[str]
    created_at: int
    mfa_policy: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "client_id": self.id,
            "name": self.name,
            "is_public": self.is_public,
            "first_party": self.first_party,
            "redirect_uris": self.redirect_uris,
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
            "grant_types": self.grant_types,
            "audiences": self.audiences,
            "scopes": self.scopes,
            "token_endpoint_auth_method": "none" if self.is_public else "client_secret_basic",
            "mfa_policy": self.mfa_policy,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class SigningKeyRecord:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_jwk_sealed: str
    created_at: int
    retired_at: int | None
    expires_at: int | None


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    auth_time: int
    amr: list[str]
    acr: str | None
    expires_at: int


@dataclass(frozen=True)
class LoginTransaction:
    id: str
    browser_id: str
    client_id: str
    params: dict[str, str]
    created_at: int
    expires_at: int
    authenticated_at: int | None
    consented_at: int | None
    completed_at: int | None


@dataclass(frozen=True)
class AuthorizationCodeRecord:
    code_hash: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    audience: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    amr: list[str]
    acr: str | None
    session_id: str | None
    expires_at: int
    used_at: int | None
    grant_id: str | None


@dataclass(frozen=True)
class TokenGrant:
    id: str
    client_id: str
    user_id: str | None
    scope: str
    audience: str | None
    auth_time: int | None
    amr: list[str]
    acr: str | None
    created_at: int
    expires_at: int
    revoked_at: int | None


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_hash: str
    grant: TokenGrant
    created_at: int
    rotated_at: int | None
