"""Settings operators change while the server runs (factor toggles, the MFA policy)."""

from __future__ import annotations

import json
from typing import Any

from databases import Database
from sqlalchemy import delete, select

from provider.clock import now
from provider.db.database import write_transaction
from provider.db.tables import runtime_settings


class RuntimeSettingsStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, key: str, default: Any = None) -> Any:
        value = await self._db.fetch_val(
            select(runtime_settings.c.value).where(runtime_settings.c.key == key)
        )
        return json.loads(value) if value is not None else default

    async def all(self, prefix: str) -> dict[str, Any]:
        # A handful of rows: filtered here (a LIKE pattern trips up `databases`' compiler).
        rows = await self._db.fetch_all(select(runtime_settings))
        return {
            row["key"]: json.loads(row["value"]) for row in rows if row["key"].startswith(prefix)
        }

    async def delete(self, key: str) -> None:
        await self._db.execute(delete(runtime_settings).where(runtime_settings.c.key == key))

    async def set(self, key: str, value: Any) -> None:
        async with write_transaction(self._db):
            await self._db.execute(delete(runtime_settings).where(runtime_settings.c.key == key))
            await self._db.execute(
                runtime_settings.insert().values(key=key, value=json.dumps(value), updated_at=now())
            )
