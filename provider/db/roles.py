"""Operator roles held by users (the dashboard's `admin`)."""

from __future__ import annotations

from databases import Database
from sqlalchemy import delete, select

from provider.clock import now
from provider.db.errors import DUPLICATE_KEY
from provider.db.tables import user_roles

ADMIN = "admin"


class RoleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def grant(self, user_id: str, role: str) -> bool:
        """True if granted now, False if the user already had it."""
        try:
            await self._db.execute(
                user_roles.insert().values(user_id=user_id, role=role, granted_at=now())
            )
        except DUPLICATE_KEY:
            return False
        return True

    async def revoke(self, user_id: str, role: str) -> bool:
        row = await self._db.fetch_one(
            delete(user_roles)
            .where(user_roles.c.user_id == user_id, user_roles.c.role == role)
            .returning(user_roles.c.user_id)
        )
        return row is not None

    async def has(self, user_id: str, role: str) -> bool:
        found = await self._db.fetch_val(
            select(user_roles.c.user_id).where(
                user_roles.c.user_id == user_id, user_roles.c.role == role
            )
        )
        return found is not None

    async def of_user(self, user_id: str) -> list[str]:
        rows = await self._db.fetch_all(
            select(user_roles.c.role).where(user_roles.c.user_id == user_id)
        )
        return sorted(row["role"] for row in rows)
