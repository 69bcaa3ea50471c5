"""Rate-limit buckets in the database (GCRA), so limits hold across processes and replicas.

Each bucket allows a burst of `burst` events and then one per `interval_ms`. Charging is a single
conditional UPDATE, so concurrent requests cannot overdraw a bucket.
"""

from __future__ import annotations

import time

from databases import Database
from sqlalchemy import case, delete, select

from provider.db.errors import DUPLICATE_KEY
from provider.db.tables import rate_buckets


def _now_ms() -> int:
    return int(time.time() * 1000)


class RateLimitStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def allowed(self, key: str, burst: int, interval_ms: int) -> bool:
        """Would one more event be allowed now? (Reads only.)"""
        tat = await self._db.fetch_val(
            select(rate_buckets.c.tat_ms).where(rate_buckets.c.key == key)
        )
        now = _now_ms()
        return tat is None or max(tat, now) - now <= interval_ms * (burst - 1)

    async def _take(self, key: str, burst: int, interval_ms: int) -> bool:
        """One event into an existing bucket with room left (a single conditional UPDATE)."""
        now = _now_ms()
        tolerance = interval_ms * (burst - 1)
        start = case((rate_buckets.c.tat_ms > now, rate_buckets.c.tat_ms), else_=now)
        row = await self._db.fetch_one(
            rate_buckets.update()
            .where(rate_buckets.c.key == key, start - now <= tolerance)
            .values(tat_ms=start + interval_ms)
            .returning(rate_buckets.c.key)
        )
        return row is not None

    async def charge(self, key: str, burst: int, interval_ms: int) -> bool:
        """Record one event; False (and nothing recorded) if the bucket is empty."""
        # Between these statements a concurrent first charge may create the row and a reset
        # may delete it: only a bucket seen full is reported empty; otherwise go round again.
        for _ in range(10):
            if await self._take(key, burst, interval_ms):
                return True
            tat = await self._db.fetch_val(
                select(rate_buckets.c.tat_ms).where(rate_buckets.c.key == key)
            )
            if tat is not None:
                now = _now_ms()
                if max(tat, now) - now > interval_ms * (burst - 1):
                    return False  # the bucket is empty
                continue  # created since our update found no row: take from it
            try:
                await self._db.execute(
                    rate_buckets.insert().values(key=key, tat_ms=_now_ms() + interval_ms)
                )
                return True
            except DUPLICATE_KEY:  # created concurrently: take from the row that won
                continue
        return False

    async def reset(self, key: str) -> None:
        await self._db.execute(delete(rate_buckets).where(rate_buckets.c.key == key))
