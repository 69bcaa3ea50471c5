"""Authorization codes, token families (grants), refresh tokens and revoked access tokens.

Single use is enforced by conditional updates (`... WHERE used_at IS NULL RETURNING`), so that
of two concurrent requests, in one process or several, exactly one wins.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from databases import Database
from sqlalchemy import or_, select

from provider.clock import now
from provider.db.database import write_transaction
from provider.db.errors import DUPLICATE_KEY
from provider.db.records import (
    AuthorizationCodeRecord,
    RefreshTokenRecord,
    TokenGrant,
    dumps,
    loads_list,
)
from provider.db.tables import (
    authorization_codes,
    refresh_tokens,
    revoked_access_tokens,
    token_grants,
)


class _Lost(Exception):
    """Raised inside a transaction to roll it back when a conditional update matched nothing."""


def _grant(row: Any, prefix: str = "") -> TokenGrant:
    return TokenGrant(
        id=row[prefix + "id"],
        client_id=row[prefix + "client_id"],
        user_id=row[prefix + "user_id"],
        scope=row[prefix + "scope"],
        audience=row[prefix + "audience"],
        auth_time=row[prefix + "auth_time"],
        amr=loads_list(row[prefix + "amr"]),
        acr=row[prefix + "acr"],
        created_at=row[prefix + "created_at"],
        expires_at=row[prefix + "expires_at"],
        revoked_at=row[prefix + "revoked_at"],
    )


def _grant_values(grant: TokenGrant) -> dict[str, Any]:
    values = asdict(grant)
    values["amr"] = dumps(grant.amr)
    return values


class TokenStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- authorization codes -----------------------------------------------------------------
    async def save_code(self, record: AuthorizationCodeRecord) -> None:
        values = asdict(record)
        values["amr"] = dumps(record.amr)
        await self._db.execute(authorization_codes.insert().values(**values))

    async def get_code(self, code_hash: str) -> AuthorizationCodeRecord | None:
        row = await self._db.fetch_one(
            select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
        )
        if not row:
            return None
        values = dict(row._mapping)
        values["amr"] = loads_list(values["amr"])
        return AuthorizationCodeRecord(**values)

    async def exchange_code(
        self, code_hash: str, grant: TokenGrant, refresh_hash: str | None
    ) -> bool:
        """Consume the code and record what it issued, atomically; False if already used."""
        try:
            async with write_transaction(self._db):
                won = await self._db.fetch_one(
                    authorization_codes.update()
                    .where(
                        authorization_codes.c.code_hash == code_hash,
                        authorization_codes.c.used_at.is_(None),
                    )
                    .values(used_at=now(), grant_id=grant.id)
                    .returning(authorization_codes.c.code_hash)
                )
                if not won:
                    raise _Lost
                await self._insert_grant(grant, refresh_hash)
        except _Lost:
            return False
        return True

    async def revoke_code_grant(self, code_hash: str, reason: str) -> None:
        """A replayed code: revoke everything the first exchange issued."""
        code = await self.get_code(code_hash)
        if code and code.grant_id:
            await self.revoke_grant(code.grant_id, reason)

    # -- token families ----------------------------------------------------------------------
    async def _insert_grant(self, grant: TokenGrant, refresh_hash: str | None) -> None:
        await self._db.execute(token_grants.insert().values(**_grant_values(grant)))
        if refresh_hash:
            await self._db.execute(
                refresh_tokens.insert().values(
                    token_hash=refresh_hash, grant_id=grant.id, created_at=grant.created_at
                )
            )

    async def create_grant(self, grant: TokenGrant, refresh_hash: str | None) -> None:
        async with write_transaction(self._db):
            await self._insert_grant(grant, refresh_hash)

    async def get_grant(self, grant_id: str) -> TokenGrant | None:
        row = await self._db.fetch_one(select(token_grants).where(token_grants.c.id == grant_id))
        return _grant(row) if row else None

    async def revoke_client_grants(self, client_id: str, reason: str) -> None:
        await self._db.execute(
            token_grants.update()
            .where(token_grants.c.client_id == client_id, token_grants.c.revoked_at.is_(None))
            .values(revoked_at=now(), revoked_reason=reason)
        )

    async def revoke_user_grants(self, user_id: str, reason: str) -> None:
        await self._db.execute(
            token_grants.update()
            .where(token_grants.c.user_id == user_id, token_grants.c.revoked_at.is_(None))
            .values(revoked_at=now(), revoked_reason=reason)
        )

    async def revoke_grant(self, grant_id: str, reason: str) -> None:
        await self._db.execute(
            token_grants.update()
            .where(token_grants.c.id == grant_id, token_grants.c.revoked_at.is_(None))
            .values(revoked_at=now(), revoked_reason=reason)
        )

    # -- refresh tokens ----------------------------------------------------------------------
    async def get_refresh(self, token_hash: str) -> RefreshTokenRecord | None:
        query = (
            select(refresh_tokens, *[c.label("g_" + c.name) for c in token_grants.c])
            .join(token_grants, token_grants.c.id == refresh_tokens.c.grant_id)
            .where(refresh_tokens.c.token_hash == token_hash)
        )
        row = await self._db.fetch_one(query)
        if not row:
            return None
        return RefreshTokenRecord(
            token_hash=row["token_hash"],
            grant=_grant(row, "g_"),
            created_at=row["created_at"],
            rotated_at=row["rotated_at"],
        )

    async def rotate_refresh(self, old_hash: str, new_hash: str | None, grant_id: str) -> bool:
        """Mark the old token used and add its successor, atomically; False if it was used."""
        stamp = now()
        try:
            async with write_transaction(self._db):
                won = await self._db.fetch_one(
                    refresh_tokens.update()
                    .where(
                        refresh_tokens.c.token_hash == old_hash,
                        refresh_tokens.c.rotated_at.is_(None),
                    )
                    .values(rotated_at=stamp)
                    .returning(refresh_tokens.c.token_hash)
                )
                if not won:
                    raise _Lost
                if new_hash:
                    await self._db.execute(
                        refresh_tokens.insert().values(
                            token_hash=new_hash, grant_id=grant_id, created_at=stamp
                        )
                    )
        except _Lost:
            return False
        return True

    # -- access tokens -----------------------------------------------------------------------
    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        if await self._db.fetch_one(
            select(revoked_access_tokens.c.jti).where(revoked_access_tokens.c.jti == jti)
        ):
            return
        try:
            await self._db.execute(
                revoked_access_tokens.insert().values(jti=jti, expires_at=expires_at)
            )
        except DUPLICATE_KEY:  # a concurrent revocation of the same token won
            if not await self.is_revoked(jti, None):
                raise

    async def is_revoked(self, jti: str, grant_id: str | None) -> bool:
        """Is this access token revoked, itself or through its family?"""
        if await self._db.fetch_one(
            select(revoked_access_tokens.c.jti).where(revoked_access_tokens.c.jti == jti)
        ):
            return True
        if not grant_id:
            return False
        row = await self._db.fetch_one(
            select(token_grants.c.id).where(
                token_grants.c.id == grant_id,
                or_(token_grants.c.revoked_at.is_not(None), token_grants.c.expires_at <= now()),
            )
        )
        return row is not None
