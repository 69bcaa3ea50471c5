"""Signing keys: public JWK in clear, private JWK sealed with the server secret."""

from __future__ import annotations

import json
from typing import Any

from databases import Database
from sqlalchemy import or_, select

from provider.db.database import write_transaction
from provider.db.records import SigningKeyRecord
from provider.db.tables import signing_keys


def _key(row: Any) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=row["kid"],
        alg=row["alg"],
        public_jwk=json.loads(row["public_jwk"]),
        private_jwk_sealed=row["private_jwk_sealed"],
        created_at=row["created_at"],
        retired_at=row["retired_at"],
        expires_at=row["expires_at"],
    )


class KeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, record: SigningKeyRecord, *, retire_others_at: int, expire_at: int) -> None:
        """Insert a new active key; older active keys stop signing but stay published until
        `expire_at` (when every token they signed has expired)."""
        async with write_transaction(self._db):
            await self._db.execute(
                signing_keys.update()
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=retire_others_at, expires_at=expire_at)
            )
            await self._db.execute(
                signing_keys.insert().values(
                    kid=record.kid,
                    alg=record.alg,
                    public_jwk=json.dumps(record.public_jwk),
                    private_jwk_sealed=record.private_jwk_sealed,
                    created_at=record.created_at,
                    retired_at=None,
                    expires_at=None,
                )
            )

    async def published(self, at: int) -> list[SigningKeyRecord]:
        """Keys whose signatures may still be valid at `at`, newest first."""
        rows = await self._db.fetch_all(
            select(signing_keys)
            .where(or_(signing_keys.c.expires_at.is_(None), signing_keys.c.expires_at > at))
            .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
        )
        return [_key(r) for r in rows]
