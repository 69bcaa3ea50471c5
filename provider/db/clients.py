"""OAuth clients (applications). Secrets exist only as keyed hashes; the plain secret is
returned once, at creation or rotation."""

from __future__ import annotations

import time
from typing import Any

from databases import Database
from sqlalchemy import select

from provider.clock import now
from provider.db.records import ClientRecord, dumps, loads_list
from provider.db.tables import clients
from provider.security.secrets import SecretBox, random_alphanumeric

CLIENT_ID_LENGTH = 32
CLIENT_SECRET_LENGTH = 48
# Clients are read on every token request but change rarely. A short cache cuts the token
# endpoint's database work by a third (bench/README.md); changes made in this process apply at
# once, changes made by another process or replica within CACHE_SECONDS.
CACHE_SECONDS = 2.0
CACHE_MAX_ENTRIES = 10_000


def _client(row: Any) -> ClientRecord:
    return ClientRecord(
        id=row["id"],
        name=row["name"],
        secret_hash=row["secret_hash"],
        is_public=bool(row["is_public"]),
        first_party=bool(row["first_party"]),
        redirect_uris=loads_list(row["redirect_uris"]),
        post_logout_redirect_uris=loads_list(row["post_logout_redirect_uris"]),
        grant_types=loads_list(row["grant_types"]),
        audiences=loads_list(row["audiences"]),
        scopes=loads_list(row["scopes"]),
        created_at=row["created_at"],
        mfa_policy=row["mfa_policy"],
    )


class ClientStore:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box
        self._cache: dict[str, tuple[float, ClientRecord]] = {}

    async def create(
        self,
        *,
        name: str,
        is_public: bool,
        first_party: bool,
        redirect_uris: list[str],
        grant_types: list[str],
        post_logout_redirect_uris: list[str] | None = None,
        audiences: list[str] | None = None,
        scopes: list[str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        mfa_policy: str | None = None,
    ) -> tuple[ClientRecord, str | None]:
        """Create a client; returns it with its plain secret (None for public clients)."""
        client_id = client_id or random_alphanumeric(CLIENT_ID_LENGTH)
        secret = None if is_public else (client_secret or random_alphanumeric(CLIENT_SECRET_LENGTH))
        stamp = now()
        values = {
            "id": client_id,
            "name": name,
            "secret_hash": self._box.keyed_hash(secret) if secret else None,
            "is_public": is_public,
            "first_party": first_party,
            "redirect_uris": dumps(redirect_uris),
            "post_logout_redirect_uris": dumps(post_logout_redirect_uris or []),
            "grant_types": dumps(grant_types),
            "audiences": dumps(audiences or []),
            "scopes": dumps(scopes or []),
            "mfa_policy": mfa_policy,
            "created_at": stamp,
            "updated_at": stamp,
        }
        await self._db.execute(clients.insert().values(**values))
        return _client(values), secret

    async def get(self, client_id: str) -> ClientRecord | None:
        cached = self._cache.get(client_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        row = await self._db.fetch_one(select(clients).where(clients.c.id == client_id))
        if not row:
            return None  # unknown ids are not cached: a flood of them must not fill memory
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        record = _client(row)
        self._cache[client_id] = (time.monotonic() + CACHE_SECONDS, record)
        return record

    async def list(self) -> list[ClientRecord]:
        rows = await self._db.fetch_all(select(clients).order_by(clients.c.created_at))
        return [_client(r) for r in rows]

    LIST_FIELDS = (
        "redirect_uris",
        "post_logout_redirect_uris",
        "grant_types",
        "audiences",
        "scopes",
    )
    FIELDS = (*LIST_FIELDS, "name", "first_party", "mfa_policy")

    async def update(self, client_id: str, **values: Any) -> ClientRecord | None:
        """Change registration fields (`FIELDS`); lists are replaced whole."""
        assert set(values) <= set(self.FIELDS), values
        stored = {k: dumps(v) if k in self.LIST_FIELDS else v for k, v in values.items()}
        if stored:
            await self._db.execute(
                clients.update().where(clients.c.id == client_id).values(**stored, updated_at=now())
            )
        self._cache.pop(client_id, None)
        row = await self._db.fetch_one(select(clients).where(clients.c.id == client_id))
        return _client(row) if row else None

    async def delete(self, client_id: str) -> bool:
        row = await self._db.fetch_one(
            clients.delete().where(clients.c.id == client_id).returning(clients.c.id)
        )
        self._cache.pop(client_id, None)
        return row is not None

    async def rotate_secret(self, client_id: str) -> str | None:
        secret = random_alphanumeric(CLIENT_SECRET_LENGTH)
        row = await self._db.fetch_one(
            clients.update()
            .where(clients.c.id == client_id, clients.c.is_public.is_(False))
            .values(secret_hash=self._box.keyed_hash(secret), updated_at=now())
            .returning(clients.c.id)
        )
        self._cache.pop(client_id, None)
        return secret if row else None
