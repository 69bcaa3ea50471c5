"""Users: local accounts keyed by an opaque id; emails are unique and stored lower-cased."""

from __future__ import annotations

from typing import Any

from databases import Database
from sqlalchemy import func, or_, select

from provider.clock import now
from provider.db.database import write_transaction
from provider.db.errors import DUPLICATE_KEY
from provider.db.records import User
from provider.db.tables import (
    authenticators,
    consents,
    mfa_transactions,
    mfa_user_state,
    sessions,
    token_grants,
    user_identities,
    user_roles,
    users,
)
from provider.security.secrets import new_id

# Tables whose rows belong to one user and go with them.
USER_TABLES = [
    sessions,
    consents,
    authenticators,
    mfa_transactions,
    mfa_user_state,
    user_roles,
    user_identities,
]


class EmailTaken(ValueError):
    """Another user already has this email."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        email_verified=bool(row["email_verified"]),
        password_hash=row["password_hash"],
        name=row["name"],
        blocked=bool(row["blocked"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class UserStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self,
        email: str,
        password_hash: str | None,
        *,
        email_verified: bool = False,
        name: str | None = None,
    ) -> User:
        email = normalise_email(email)
        if await self.by_email(email):
            raise EmailTaken(email)
        stamp = now()
        values = {
            "id": new_id("usr"),
            "email": email,
            "email_verified": email_verified,
            "password_hash": password_hash,
            "name": name,
            "blocked": False,
            "created_at": stamp,
            "updated_at": stamp,
        }
        try:
            await self._db.execute(users.insert().values(**values))
        except DUPLICATE_KEY as exc:  # a concurrent insert won the unique constraint
            if await self.by_email(email):
                raise EmailTaken(email) from exc
            raise
        return _user(values)

    async def get(self, user_id: str) -> User | None:
        row = await self._db.fetch_one(select(users).where(users.c.id == user_id))
        return _user(row) if row else None

    async def by_email(self, email: str) -> User | None:
        row = await self._db.fetch_one(select(users).where(users.c.email == normalise_email(email)))
        return _user(row) if row else None

    async def set_email_verified(
        self, user_id: str, verified: bool, *, email: str | None = None
    ) -> bool:
        """Set the flag; with `email`, only while the user still has that address (a link sent
        to an old address must not verify a new one)."""
        query = users.update().where(users.c.id == user_id)
        if email is not None:
            query = query.where(users.c.email == normalise_email(email))
        row = await self._db.fetch_one(
            query.values(email_verified=verified, updated_at=now()).returning(users.c.id)
        )
        return row is not None

    async def change_email(self, user_id: str, email: str) -> None:
        """A new address is unverified until proven again (its owner may not be the user)."""
        email = normalise_email(email)
        existing = await self.by_email(email)
        if existing and existing.id != user_id:
            raise EmailTaken(email)
        try:
            await self._db.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(email=email, email_verified=False, updated_at=now())
            )
        except DUPLICATE_KEY as exc:
            raise EmailTaken(email) from exc

    async def list(self, limit: int = 100, offset: int = 0) -> list[User]:
        rows = await self._db.fetch_all(
            select(users).order_by(users.c.created_at, users.c.id).limit(limit).offset(offset)
        )
        return [_user(r) for r in rows]

    async def count(self, query: str | None = None) -> int:
        statement = select(func.count()).select_from(users)
        if query:
            statement = statement.where(_matches(query))
        return int(await self._db.fetch_val(statement) or 0)

    async def search(self, query: str | None, limit: int, offset: int) -> list[User]:
        """Users whose email, name or id contains `query` (case-insensitive), oldest first."""
        statement = select(users).order_by(users.c.created_at, users.c.id)
        if query:
            statement = statement.where(_matches(query))
        rows = await self._db.fetch_all(statement.limit(limit).offset(offset))
        return [_user(r) for r in rows]

    async def update(self, user_id: str, **values: Any) -> User | None:
        """Set `name`, `blocked`, `email_verified` or `password_hash` (email: `change_email`)."""
        allowed = {"name", "blocked", "email_verified", "password_hash"}
        assert set(values) <= allowed, values
        if values:
            await self._db.execute(
                users.update().where(users.c.id == user_id).values(**values, updated_at=now())
            )
        return await self.get(user_id)

    async def delete(self, user_id: str) -> bool:
        """Delete the user and everything keyed to them, and revoke their token families.
        Rows are deleted explicitly: SQLite does not enforce ON DELETE CASCADE by default."""
        async with write_transaction(self._db):
            await self._db.execute(
                token_grants.update()
                .where(token_grants.c.user_id == user_id, token_grants.c.revoked_at.is_(None))
                .values(revoked_at=now(), revoked_reason="user_deleted")
            )
            for table in USER_TABLES:
                await self._db.execute(table.delete().where(table.c.user_id == user_id))
            row = await self._db.fetch_one(
                users.delete().where(users.c.id == user_id).returning(users.c.id)
            )
        return row is not None


def _matches(query: str) -> Any:
    """A substring match; LIKE wildcards in the query are taken literally."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(
        func.lower(users.c.email).like(pattern, escape="\\"),
        func.lower(func.coalesce(users.c.name, "")).like(pattern, escape="\\"),
        users.c.id == query,
    )
