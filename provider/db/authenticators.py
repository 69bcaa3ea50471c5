"""MFA authenticators, with storage views scoped to one factor plugin each."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from databases import Database
from sqlalchemy import delete, select

from provider.clock import now
from provider.db.tables import authenticators
from provider.mfa.api import StoredAuthenticator
from provider.security.secrets import SecretBox

PENDING_TTL = 15 * 60  # an enrollment not confirmed within this is abandoned


# Auth0 names TOTP authenticators "totp|dev_…" although the factor is "otp"; apps written for
# Auth0 may look at the prefix, so ids follow its naming.
ID_PREFIXES = {"otp": "totp"}


def authenticator_id(factor_id: str) -> str:
    return f"{ID_PREFIXES.get(factor_id, factor_id)}|dev_{secrets.token_urlsafe(12)}"


class FactorAuthenticatorStorage:
    """`AuthenticatorStorage` for one factor: every query is filtered by its factor id, and
    secrets are sealed with a key bound to the factor and the row."""

    def __init__(self, database: Database, box: SecretBox, factor_id: str) -> None:
        self._db = database
        self._box = box
        self._factor_id = factor_id

    def _row(self, row: Any) -> StoredAuthenticator:
        secret = None
        if row["secret_sealed"]:
            secret = self._box.unseal(row["secret_sealed"], f"authenticator:{row['id']}")
        return StoredAuthenticator(
            id=row["id"],
            user_id=row["user_id"],
            name=row["name"],
            secret=secret,
            data=json.loads(row["data"]),
            counter=row["counter"],
            confirmed=row["confirmed_at"] is not None,
            created_at=row["created_at"],
        )

    def _mine(self) -> Any:
        return authenticators.c.factor_id == self._factor_id

    async def create(
        self,
        user_id: str,
        *,
        name: str | None = None,
        secret: bytes | None = None,
        data: Mapping[str, Any] | None = None,
        confirmed: bool = False,
    ) -> StoredAuthenticator:
        new_id = authenticator_id(self._factor_id)
        stamp = now()
        values = {
            "id": new_id,
            "user_id": user_id,
            "factor_id": self._factor_id,
            "name": name,
            "secret_sealed": self._box.seal(secret, f"authenticator:{new_id}") if secret else None,
            "data": json.dumps(dict(data or {})),
            "counter": 0,
            "created_at": stamp,
            "confirmed_at": stamp if confirmed else None,
            "last_used_at": None,
        }
        await self._db.execute(authenticators.insert().values(**values))
        return self._row(values)

    async def get(self, authenticator_id: str) -> StoredAuthenticator | None:
        row = await self._db.fetch_one(
            select(authenticators).where(authenticators.c.id == authenticator_id, self._mine())
        )
        if not row or (row["confirmed_at"] is None and row["created_at"] <= now() - PENDING_TTL):
            return None  # missing, or an enrollment abandoned long ago
        return self._row(row)

    async def list(self, user_id: str, *, confirmed_only: bool = True) -> list[StoredAuthenticator]:
        query = select(authenticators).where(authenticators.c.user_id == user_id, self._mine())
        if confirmed_only:
            query = query.where(authenticators.c.confirmed_at.is_not(None))
        rows = await self._db.fetch_all(query.order_by(authenticators.c.created_at))
        return [self._row(r) for r in rows]

    async def confirm(
        self, authenticator_id: str, *, data: Mapping[str, Any] | None = None
    ) -> bool:
        values: dict[str, Any] = {"confirmed_at": now()}
        if data is not None:
            values["data"] = json.dumps(dict(data))
        row = await self._db.fetch_one(
            authenticators.update()
            .where(
                authenticators.c.id == authenticator_id,
                self._mine(),
                authenticators.c.confirmed_at.is_(None),
                authenticators.c.created_at > now() - PENDING_TTL,
            )
            .values(**values)
            .returning(authenticators.c.id)
        )
        return row is not None

    async def delete(self, authenticator_id: str) -> bool:
        row = await self._db.fetch_one(
            delete(authenticators)
            .where(authenticators.c.id == authenticator_id, self._mine())
            .returning(authenticators.c.id)
        )
        return row is not None

    async def advance_counter(self, authenticator_id: str, value: int) -> bool:
        row = await self._db.fetch_one(
            authenticators.update()
            .where(
                authenticators.c.id == authenticator_id,
                self._mine(),
                authenticators.c.counter < value,
            )
            .values(counter=value)
            .returning(authenticators.c.id)
        )
        return row is not None


class AuthenticatorStore:
    """Operations across factors, for the engine (not for plugins)."""

    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box

    def for_factor(self, factor_id: str) -> FactorAuthenticatorStorage:
        return FactorAuthenticatorStorage(self._db, self._box, factor_id)

    async def count_confirmed(self, user_id: str) -> int:
        rows = await self._db.fetch_all(
            select(authenticators.c.id).where(
                authenticators.c.user_id == user_id, authenticators.c.confirmed_at.is_not(None)
            )
        )
        return len(rows)

    async def touch(self, authenticator_id: str) -> None:
        await self._db.execute(
            authenticators.update()
            .where(authenticators.c.id == authenticator_id)
            .values(last_used_at=now())
        )

    async def delete_for_user(self, user_id: str, factor_id: str | None = None) -> None:
        query = delete(authenticators).where(authenticators.c.user_id == user_id)
        if factor_id:
            query = query.where(authenticators.c.factor_id == factor_id)
        await self._db.execute(query)
