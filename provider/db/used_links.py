"""Single use for signed links: a link's id is recorded the first time it is used."""

from __future__ import annotations

from databases import Database
from sqlalchemy import delete

from provider.clock import now
from provider.db.errors import DUPLICATE_KEY
from provider.db.tables import used_links


class UsedLinkStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def use(self, link_id: str, expires_at: int) -> bool:
        """True the first time only (the primary key decides between concurrent uses)."""
        await self._db.execute(delete(used_links).where(used_links.c.expires_at < now()))
        try:
            await self._db.execute(used_links.insert().values(id=link_id, expires_at=expires_at))
        except DUPLICATE_KEY:
            return False
        return True
