"""Applications (OAuth clients): create, change, delete, rotate the secret — with the rules the
CLI, the Management API and the dashboard share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from provider.db.records import ClientRecord
from provider.db.store import Store
from provider.management.errors import NotFound, OperationError
from provider.management.scopes import MANAGEMENT_SCOPES, management_audience

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", "password")
MFA_POLICIES = ("never", "always")


@dataclass
class ClientSpec:
    name: str
    is_public: bool = False
    first_party: bool = False
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    mfa_policy: str | None = None


def _check_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if (
        not parts.scheme
        or parts.fragment
        or (parts.scheme in ("http", "https") and not parts.netloc)
        or len(uri) > 2000
        or any(c.isspace() for c in uri)
    ):
        raise OperationError(f"not an absolute URI without fragment: {uri!r}")


def check_spec(spec: ClientSpec) -> ClientSpec:
    """Validate and fill in defaults; raises OperationError with the reason."""
    name = spec.name.strip()
    if not name or len(name) > 200:
        raise OperationError("a name of 1 to 200 characters is required")
    for uri in (*spec.redirect_uris, *spec.post_logout_redirect_uris):
        _check_uri(uri)
    unknown = set(spec.grant_types) - set(GRANT_TYPES)
    if unknown:
        raise OperationError(f"unknown grant type(s): {', '.join(sorted(unknown))}")
    grants = list(dict.fromkeys(spec.grant_types)) or (
        ["authorization_code", "refresh_token"] if spec.redirect_uris else []
    )
    if not grants:
        raise OperationError("give a redirect URI or at least one grant type")
    if "authorization_code" in grants and not spec.redirect_uris:
        raise OperationError("authorization_code needs at least one redirect URI")
    if spec.is_public and ("client_credentials" in grants or "password" in grants):
        raise OperationError("a public client cannot use client_credentials or password")
    if "password" in grants and not spec.first_party:
        raise OperationError("the password grant is only for first-party clients")
    if spec.mfa_policy not in (None, *MFA_POLICIES):
        raise OperationError("mfa_policy must be never, always or null")
    for value in (*spec.audiences, *spec.scopes):
        if not value or len(value) > 500 or any(c.isspace() for c in value):
            raise OperationError(f"not a valid audience or scope: {value!r}")
    return ClientSpec(
        name=name,
        is_public=spec.is_public,
        first_party=spec.first_party,
        redirect_uris=list(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(spec.post_logout_redirect_uris)),
        grant_types=grants,
        audiences=list(dict.fromkeys(spec.audiences)),
        scopes=list(dict.fromkeys(spec.scopes)),
        mfa_policy=spec.mfa_policy,
    )


def with_api_scopes(spec: ClientSpec, issuer: str, api_scopes: list[str]) -> ClientSpec:
    """Authorize a machine client for the Management API (`--api-scopes all` or a list)."""
    if not api_scopes:
        return spec
    wanted = list(MANAGEMENT_SCOPES) if api_scopes == ["all"] else api_scopes
    unknown = set(wanted) - set(MANAGEMENT_SCOPES)
    if unknown:
        raise OperationError(f"unknown Management API scope(s): {', '.join(sorted(unknown))}")
    if "client_credentials" not in spec.grant_types:
        raise OperationError("Management API scopes need the client_credentials grant")
    spec.audiences = [*spec.audiences, management_audience(issuer)]
    spec.scopes = [*spec.scopes, *wanted]
    return spec


class ClientOperations:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, client_id: str) -> ClientRecord:
        client = (
            await self.store.clients.get(client_id)
            if "\x00" not in client_id and len(client_id) <= 200
            else None
        )
        if client is None:
            raise NotFound("no such client")
        return client

    async def create(self, spec: ClientSpec, actor: str) -> tuple[ClientRecord, str | None]:
        spec = check_spec(spec)
        client, secret = await self.store.clients.create(
            name=spec.name,
            is_public=spec.is_public,
            first_party=spec.first_party,
            redirect_uris=spec.redirect_uris,
            grant_types=spec.grant_types,
            post_logout_redirect_uris=spec.post_logout_redirect_uris,
            audiences=spec.audiences,
            scopes=spec.scopes,
            mfa_policy=spec.mfa_policy,
        )
        await self.store.audit.record(actor, "client.create", client.id, {"name": client.name})
        return client, secret

    async def update(self, client_id: str, changes: dict[str, Any], actor: str) -> ClientRecord:
        current = await self.get(client_id)
        merged = ClientSpec(
            name=changes.get("name", current.name),
            is_public=current.is_public,
            first_party=changes.get("first_party", current.first_party),
            redirect_uris=changes.get("redirect_uris", current.redirect_uris),
            post_logout_redirect_uris=changes.get(
                "post_logout_redirect_uris", current.post_logout_redirect_uris
            ),
            grant_types=changes.get("grant_types", current.grant_types),
            audiences=changes.get("audiences", current.audiences),
            scopes=changes.get("scopes", current.scopes),
            mfa_policy=changes.get("mfa_policy", current.mfa_policy),
        )
        checked = check_spec(merged)
        values = {k: getattr(checked, k) for k in changes}
        updated = await self.store.clients.update(client_id, **values)
        if updated is None:
            raise NotFound("no such client")
        await self.store.audit.record(
            actor, "client.update", client_id, {"fields": sorted(changes)}
        )
        return updated

    async def delete(self, client_id: str, actor: str) -> None:
        await self.get(client_id)
        await self.store.tokens.revoke_client_grants(client_id, "client_deleted")
        await self.store.clients.delete(client_id)
        await self.store.audit.record(actor, "client.delete", client_id)

    async def rotate_secret(self, client_id: str, actor: str) -> str:
        client = await self.get(client_id)
        if client.is_public:
            raise OperationError("a public client has no secret")
        secret = await self.store.clients.rotate_secret(client_id)
        assert secret is not None
        await self.store.audit.record(actor, "client.rotate_secret", client_id)
        return secret
