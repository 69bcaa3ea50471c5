"""Rate-limit buckets in the database (GCRA), so limits hold across processes and replicas.

Each bucket allows a burst of `burst` events and then one per `interval_ms`. Charging is a single
conditional UPDATE, so concurrent requests cannot overdraw a bucket.
"""

from __future__ import annotations

import time

from databases import Database
from sqlalchemy import case, delete, select

from provider.db.tables import rate_buckets


def _now_ms() -> int:
    return int(time.time() * 1000)


class RateLimitStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def allowed(self, key: str, burst: int, interval_ms: int) -> bool:
        """Would one more event be allowed now? (Reads only.)"""
        tat = await self._db.fetch_val(select(rate_buckets.c.tat_ms).where(rate_buckets.c.key == key))
        now = _now_ms()
        return tat is None or max(tat, now) - now <= interval_ms * (burst - 1)

    async def charge(self, key: str, burst: int, interval_ms: int) -> bool:
        """Record one event; False (and nothing recorded) if the bucket is empty."""
        now = _now_ms()
        tolerance = interval_ms * (burst - 1)
        start = case((rate_buckets.c.tat_ms > now, rate_buckets.c.tat_ms), else_=now)
        row = await self._db.fetch_one(
            rate_buckets.update()
            .where(rate_buckets.c.key == key, start - now <= tolerance)
            .values(tat_ms=start + interval_ms)
            .returning(rate_buckets.c.key)
        )
        if row is not None:
            return True
        if await self._db.fetch_val(select(rate_buckets.c.key).where(rate_buckets.c.key == key)):
            return False  # the bucket exists and is empty
        try:
            await self._db.execute(rate_buckets.insert().values(key=key, tat_ms=now + interval_ms))
            return True
        except Exception:  # noqa: BLE001 - created concurrently: charge the row that won
            return await self.charge(key, burst, interval_ms)

    async def reset(self, key: str) -> None:
        await self._db.execute(delete(rate_buckets).where(rate_buckets.c.key == key))
