"""User identities at upstream OpenID providers, keyed by (issuer, subject) — never by email.

Each sign-in through an upstream copies the email and email_verified it sent onto both the
identity and the local user, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from databases import Database
from sqlalchemy import select

from provider.clock import now
from provider.db.database import write_transaction
from provider.db.errors import DUPLICATE_KEY
from provider.db.tables import user_identities, users
from provider.db.users import normalise_email
from provider.security.secrets import new_id

CREATED = "created"  # a new local user was made for this identity
VERIFIED_EMAIL = "verified_email"  # linked to an existing user with the same verified email


class IdentityTaken(ValueError):
    """This (issuer, subject) already belongs to a user (a concurrent first sign-in)."""


@dataclass(frozen=True)
class Identity:
    id: str
    user_id: str
    issuer: str
    subject: str
    connection_id: str | None
    email: str | None
    email_verified: bool
    linked_how: str
    linked_at: int
    last_login_at: int

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issuer": self.issuer,
            "subject": self.subject,
            "connection_id": self.connection_id,
            "email": self.email,
            "email_verified": self.email_verified,
            "linked_how": self.linked_how,
            "linked_at": self.linked_at,
            "last_login_at": self.last_login_at,
        }


def _identity(row: Any) -> Identity:
    return Identity(
        id=row["id"],
        user_id=row["user_id"],
        issuer=row["issuer"],
        subject=row["subject"],
        connection_id=row["connection_id"],
        email=row["email"],
        email_verified=bool(row["email_verified"]),
        linked_how=row["linked_how"],
        linked_at=row["linked_at"],
        last_login_at=row["last_login_at"],
    )


class IdentityStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def find(self, issuer: str, subject: str) -> Identity | None:
        row = await self._db.fetch_one(
            select(user_identities).where(
                user_identities.c.issuer == issuer, user_identities.c.subject == subject
            )
        )
        return _identity(row) if row else None

    async def for_user(self, user_id: str) -> list[Identity]:
        rows = await self._db.fetch_all(
            select(user_identities)
            .where(user_identities.c.user_id == user_id)
            .order_by(user_identities.c.linked_at, user_identities.c.id)
        )
        return [_identity(r) for r in rows]

    async def add(
        self,
        user_id: str,
        *,
        issuer: str,
        subject: str,
        connection_id: str,
        email: str | None,
        email_verified: bool,
        linked_how: str,
    ) -> Identity:
        stamp = now()
        values = {
            "id": new_id("idn"),
            "user_id": user_id,
            "issuer": issuer,
            "subject": subject,
            "connection_id": connection_id,
            "email": normalise_email(email) if email else None,
            "email_verified": email_verified,
            "linked_how": linked_how,
            "linked_at": stamp,
            "last_login_at": stamp,
        }
        try:
            await self._db.execute(user_identities.insert().values(**values))
        except DUPLICATE_KEY as exc:
            raise IdentityTaken(subject) from exc
        return _identity(values)

    async def record_login(
        self,
        identity: Identity,
        *,
        connection_id: str,
        email: str | None,
        upstream_verified: bool,
        user_email: str | None,
        user_verified: bool,
    ) -> None:
        """Copy what the upstream sent on this sign-in: onto the identity as sent, onto the
        user as decided by the caller (`user_email` None leaves the address unchanged)."""
        async with write_transaction(self._db):
            await self._db.execute(
                user_identities.update()
                .where(user_identities.c.id == identity.id)
                .values(
                    connection_id=connection_id,
                    email=normalise_email(email) if email else None,
                    email_verified=upstream_verified,
                    last_login_at=now(),
                )
            )
            values: dict[str, Any] = {"email_verified": user_verified, "updated_at": now()}
            if user_email is not None:
                values["email"] = normalise_email(user_email)
            await self._db.execute(
                users.update().where(users.c.id == identity.user_id).values(**values)
            )
