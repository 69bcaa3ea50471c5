"""Connections: upstream OpenID providers users may sign in with. The client secret is sealed
at rest (AES-GCM under a key derived from the server secret) and unsealed only to talk to the
upstream's token endpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from databases import Database
from sqlalchemy import delete, select

from provider.clock import now
from provider.db.errors import DUPLICATE_KEY
from provider.db.tables import connections
from provider.security.secrets import SecretBox, new_id


class ConnectionNameTaken(ValueError):
    """Another connection already has this name."""


@dataclass(frozen=True)
class Connection:
    id: str
    name: str
    display_name: str
    issuer: str
    client_id: str
    client_secret_sealed: str
    scopes: list[str]
    trust_email_verified: bool
    allow_linking: bool
    enabled: bool
    created_at: int

    def public(self, callback_url: str | None = None) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "scopes": self.scopes,
            "trust_email_verified": self.trust_email_verified,
            "allow_linking": self.allow_linking,
            "enabled": self.enabled,
            "created_at": self.created_at,
        }
        if callback_url is not None:
            shown["callback_url"] = callback_url
        return shown


def _connection(row: Any) -> Connection:
    return Connection(
        id=row["id"],
        name=row["name"],
        display_name=row["display_name"],
        issuer=row["issuer"],
        client_id=row["client_id"],
        client_secret_sealed=row["client_secret_sealed"],
        scopes=list(json.loads(row["scopes"])),
        trust_email_verified=bool(row["trust_email_verified"]),
        allow_linking=bool(row["allow_linking"]),
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
    )


def _seal_context(connection_id: str) -> str:
    return f"connection-secret:{connection_id}"


class ConnectionStore:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box

    async def create(
        self,
        *,
        name: str,
        display_name: str,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: list[str],
        trust_email_verified: bool,
        allow_linking: bool,
    ) -> Connection:
        if await self.by_name(name):
            raise ConnectionNameTaken(name)
        connection_id = new_id("con")
        stamp = now()
        values = {
            "id": connection_id,
            "name": name,
            "display_name": display_name,
            "issuer": issuer,
            "client_id": client_id,
            "client_secret_sealed": self._box.seal(
                client_secret.encode(), _seal_context(connection_id)
            ),
            "scopes": json.dumps(scopes),
            "trust_email_verified": trust_email_verified,
            "allow_linking": allow_linking,
            "enabled": True,
            "created_at": stamp,
            "updated_at": stamp,
        }
        try:
            await self._db.execute(connections.insert().values(**values))
        except DUPLICATE_KEY as exc:
            raise ConnectionNameTaken(name) from exc
        return _connection(values)

    def client_secret(self, connection: Connection) -> str:
        return self._box.unseal(
            connection.client_secret_sealed, _seal_context(connection.id)
        ).decode()

    async def get(self, connection_id: str) -> Connection | None:
        row = await self._db.fetch_one(select(connections).where(connections.c.id == connection_id))
        return _connection(row) if row else None

    async def by_name(self, name: str) -> Connection | None:
        row = await self._db.fetch_one(select(connections).where(connections.c.name == name))
        return _connection(row) if row else None

    async def list(self, *, enabled_only: bool = False) -> list[Connection]:
        query = select(connections).order_by(connections.c.created_at, connections.c.name)
        if enabled_only:
            query = query.where(connections.c.enabled.is_(True))
        return [_connection(r) for r in await self._db.fetch_all(query)]

    UPDATABLE = (
        "display_name",
        "client_id",
        "scopes",
        "trust_email_verified",
        "allow_linking",
        "enabled",
    )

    async def update(
        self, connection_id: str, *, client_secret: str | None = None, **values: Any
    ) -> Connection | None:
        """Change settings (`UPDATABLE`); a new client secret is sealed like the first."""
        assert set(values) <= set(self.UPDATABLE), values
        stored = {k: json.dumps(v) if k == "scopes" else v for k, v in values.items()}
        if client_secret is not None:
            stored["client_secret_sealed"] = self._box.seal(
                client_secret.encode(), _seal_context(connection_id)
            )
        if stored:
            await self._db.execute(
                connections.update()
                .where(connections.c.id == connection_id)
                .values(**stored, updated_at=now())
            )
        return await self.get(connection_id)

    async def delete(self, name: str) -> bool:
        row = await self._db.fetch_one(
            delete(connections).where(connections.c.name == name).returning(connections.c.id)
        )
        return row is not None
