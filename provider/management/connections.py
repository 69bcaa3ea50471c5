"""Connections (upstream OpenID providers) as operators manage them, with the rules the CLI,
the Management API and the dashboard share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from provider.db.connections import Connection, ConnectionNameTaken
from provider.db.store import Store
from provider.federation.issuers import issuer_problem
from provider.federation.presets import DEFAULT_SCOPES, PRESETS
from provider.management.errors import Conflict, NotFound, OperationError

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass
class ConnectionSpec:
    name: str
    client_id: str
    client_secret: str
    issuer: str | None = None
    scopes: list[str] = field(default_factory=list)
    display_name: str | None = None
    trust_email_verified: bool | None = None  # None: the preset's choice, else off
    allow_linking: bool = False
    preset: str | None = None


def _check_scopes(scopes: Any) -> list[str]:
    if not isinstance(scopes, list) or any(
        not isinstance(s, str) or not s or any(c.isspace() for c in s) or len(s) > 200
        for s in scopes
    ):
        raise OperationError("scopes: a list of scopes without spaces")
    return list(dict.fromkeys(["openid", *scopes]))


def _check_client(client_id: Any, client_secret: Any) -> None:
    if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 500:
        raise OperationError("client_id: 1 to 500 characters")
    if not isinstance(client_secret, str) or not client_secret or len(client_secret) > 2000:
        raise OperationError("client_secret: 1 to 2000 characters")


class ConnectionOperations:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list(self) -> list[Connection]:
        return await self.store.connections.list()

    async def get(self, connection_id: str) -> Connection:
        found = (
            await self.store.connections.get(connection_id)
            if "\x00" not in connection_id and len(connection_id) < 100
            else None
        )
        if found is None:
            raise NotFound("no such connection")
        return found

    async def create(self, spec: ConnectionSpec, actor: str) -> Connection:
        if spec.preset is not None and spec.preset not in PRESETS:
            raise OperationError(f"unknown preset: {spec.preset[:40]!r}")
        preset = PRESETS.get(spec.preset) if spec.preset else None
        if not isinstance(spec.name, str) or not NAME.fullmatch(spec.name):
            raise OperationError("name: lower-case letters, digits and '-', at most 64")
        issuer = spec.issuer or (preset.issuer if preset else None)
        if not issuer:
            raise OperationError("an issuer (or a preset) is required")
        if len(issuer) > 500 or (problem := issuer_problem(issuer)):
            raise OperationError(f"issuer: {problem if len(issuer) <= 500 else 'too long'}")
        _check_client(spec.client_id, spec.client_secret)
        scopes = _check_scopes(spec.scopes or list(preset.scopes if preset else DEFAULT_SCOPES))
        trust = spec.trust_email_verified
        if trust is None:
            trust = preset.trust_email_verified if preset else False
        display = spec.display_name or (preset.display_name if preset else spec.name)
        if len(display) > 200:
            raise OperationError("display_name: at most 200 characters")
        try:
            connection = await self.store.connections.create(
                name=spec.name,
                display_name=display,
                issuer=issuer,
                client_id=spec.client_id.strip(),
                client_secret=spec.client_secret,
                scopes=scopes,
                trust_email_verified=trust,
                allow_linking=spec.allow_linking,
            )
        except ConnectionNameTaken as exc:
            raise Conflict(f"a connection named {spec.name} already exists") from exc
        await self.store.audit.record(
            actor, "connection.create", connection.id, {"name": spec.name, "issuer": issuer}
        )
        return connection

    async def update(self, connection_id: str, changes: dict[str, Any], actor: str) -> Connection:
        await self.get(connection_id)
        values = dict(changes)
        secret = values.pop("client_secret", None)
        unknown = set(values) - set(self.store.connections.UPDATABLE)
        if unknown:
            raise OperationError(f"cannot change: {', '.join(sorted(unknown))}")
        if "scopes" in values:
            values["scopes"] = _check_scopes(values["scopes"])
        if "client_id" in values or secret is not None:
            _check_client(
                values.get("client_id", "unchanged"), secret if secret is not None else "unchanged"
            )
        for flag in ("trust_email_verified", "allow_linking", "enabled"):
            if flag in values and not isinstance(values[flag], bool):
                raise OperationError(f"{flag}: true or false")
        if "display_name" in values and (
            not isinstance(values["display_name"], str)
            or not 0 < len(values["display_name"]) <= 200
        ):
            raise OperationError("display_name: 1 to 200 characters")
        updated = await self.store.connections.update(connection_id, client_secret=secret, **values)
        assert updated is not None
        await self.store.audit.record(
            actor, "connection.update", connection_id, {"fields": sorted(changes)}
        )
        return updated

    async def delete(self, connection_id: str, actor: str) -> None:
        connection = await self.get(connection_id)
        await self.store.connections.delete(connection.name)
        await self.store.audit.record(
            actor, "connection.delete", connection.id, {"name": connection.name}
        )
