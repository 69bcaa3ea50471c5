"""One-time codes issued by factor plugins, scoped per factor: issuing replaces the previous
code of the same key; consuming is a conditional delete, so a code works once."""

from __future__ import annotations

from databases import Database
from sqlalchemy import delete, select

from provider.clock import now
from provider.db.database import write_transaction
from provider.db.tables import factor_codes


class FactorCodeStorage:
    def __init__(self, database: Database, factor_id: str) -> None:
        self._db = database
        self._prefix = f"{factor_id}:"

    async def issue(self, key: str, code_hash: str, ttl: int) -> None:
        full = self._prefix + key
        async with write_transaction(self._db):
            await self._db.execute(delete(factor_codes).where(factor_codes.c.key == full))
            await self._db.execute(
                factor_codes.insert().values(key=full, code_hash=code_hash, expires_at=now() + ttl)
            )

    async def consume(self, key: str, code_hash: str) -> str:
        """'ok' (and the code is gone), 'wrong', 'expired' or 'missing'."""
        full = self._prefix + key
        row = await self._db.fetch_one(
            delete(factor_codes)
            .where(
                factor_codes.c.key == full,
                factor_codes.c.code_hash == code_hash,
                factor_codes.c.expires_at > now(),
            )
            .returning(factor_codes.c.key)
        )
        if row is not None:
            return "ok"
        expires = await self._db.fetch_val(
            select(factor_codes.c.expires_at).where(factor_codes.c.key == full)
        )
        if expires is None:
            return "missing"
        return "expired" if expires <= now() else "wrong"
