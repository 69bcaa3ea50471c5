"""An in-memory `FactorContext`, to unit-test factor plugins without a server or database.

It follows the Protocols of provider.mfa faithfully: storage is scoped to one factor (rows of
other factors are invisible), `delete` and `advance_counter` succeed for exactly one of
concurrent callers, and every storage call yields to the event loop first, as a database round
trip would, so that `asyncio.gather` really interleaves callers. Sealing is irrelevant here:
secrets are kept as given.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from provider.mfa import Factor, StoredAuthenticator

F = TypeVar("F", bound=Factor)


@dataclass
class FakeDatabase:
    """The rows of every factor, keyed by authenticator id."""

    rows: dict[str, tuple[str, StoredAuthenticator]] = field(default_factory=dict)
    clock: list[int] = field(default_factory=lambda: [1_700_000_000])

    def now(self) -> int:
        return self.clock[0]


class FakeStorage:
    """`AuthenticatorStorage` for one factor."""

    def __init__(self, db: FakeDatabase, factor_id: str) -> None:
        self._db = db
        self._factor_id = factor_id

    def _mine(self, authenticator_id: str) -> StoredAuthenticator | None:
        entry = self._db.rows.get(authenticator_id)
        return entry[1] if entry and entry[0] == self._factor_id else None

    async def create(
        self,
        user_id: str,
        *,
        name: str | None = None,
        secret: bytes | None = None,
        data: Mapping[str, Any] | None = None,
        confirmed: bool = False,
    ) -> StoredAuthenticator:
        await asyncio.sleep(0)
        row = StoredAuthenticator(
            id=f"{self._factor_id}|dev_{secrets.token_urlsafe(12)}",
            user_id=user_id,
            name=name,
            secret=secret or None,
            data=dict(data or {}),
            counter=0,
            confirmed=confirmed,
            created_at=self._db.now(),
        )
        self._db.rows[row.id] = (self._factor_id, row)
        return row

    async def get(self, authenticator_id: str) -> StoredAuthenticator | None:
        await asyncio.sleep(0)
        return self._mine(authenticator_id)

    async def list(self, user_id: str, *, confirmed_only: bool = True) -> list[StoredAuthenticator]:
        await asyncio.sleep(0)
        rows = [
            row
            for factor, row in self._db.rows.values()
            if factor == self._factor_id
            and row.user_id == user_id
            and (row.confirmed or not confirmed_only)
        ]
        return sorted(rows, key=lambda row: row.created_at)

    async def confirm(
        self, authenticator_id: str, *, data: Mapping[str, Any] | None = None
    ) -> bool:
        await asyncio.sleep(0)
        row = self._mine(authenticator_id)
        if row is None or row.confirmed:
            return False
        changed = replace(row, confirmed=True, data=dict(data) if data is not None else row.data)
        self._db.rows[row.id] = (self._factor_id, changed)
        return True

    async def delete(self, authenticator_id: str) -> bool:
        await asyncio.sleep(0)
        # Check-and-remove happens without an await in between: atomic in asyncio.
        if self._mine(authenticator_id) is None:
            return False
        del self._db.rows[authenticator_id]
        return True

    async def advance_counter(self, authenticator_id: str, value: int) -> bool:
        await asyncio.sleep(0)
        row = self._mine(authenticator_id)
        if row is None or row.counter >= value:
            return False
        self._db.rows[row.id] = (self._factor_id, replace(row, counter=value))
        return True


class FakeLimiter:
    """`RateLimiter` with token buckets in memory (time from the fake clock)."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._buckets: dict[str, tuple[float, int]] = {}  # key -> (tokens, updated at ms)

    def _level(self, key: str, burst: int, interval_ms: int) -> float:
        tokens, stamp = self._buckets.get(key, (float(burst), self._db.now() * 1000))
        elapsed = self._db.now() * 1000 - stamp
        return min(float(burst), tokens + elapsed / interval_ms)

    async def charge(self, key: str, burst: int, interval_ms: int) -> bool:
        level = self._level(key, burst, interval_ms)
        if level < 1:
            return False
        self._buckets[key] = (level - 1, self._db.now() * 1000)
        return True

    async def allowed(self, key: str, burst: int, interval_ms: int) -> bool:
        return self._level(key, burst, interval_ms) >= 1

    async def reset(self, key: str) -> None:
        self._buckets.pop(key, None)


class FakeContext:
    """`FactorContext` for one factor, over a (possibly shared) `FakeDatabase`."""

    def __init__(
        self,
        factor_id: str,
        settings: Mapping[str, Any] | None = None,
        *,
        db: FakeDatabase | None = None,
        service_name: str = "Example Service",
    ) -> None:
        self.db = db or FakeDatabase()
        self.factor_id = factor_id
        self.settings: Mapping[str, Any] = dict(settings or {})
        self.issuer = "https://id.example.com"
        self.service_name = service_name
        self.authenticators = FakeStorage(self.db, factor_id)
        self.limiter = FakeLimiter(self.db)
        self._key = secrets.token_bytes(32)

    def now(self) -> int:
        return self.db.now()

    def set_time(self, unix_time: int) -> None:
        self.db.clock[0] = unix_time

    def keyed_hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def make_factor(cls: type[F], settings: Mapping[str, Any] | None = None, **kwargs: Any) -> F:
    """Instantiate a factor as provider does: validated settings, then a context."""
    validated = cls.validate_settings(dict(settings or {}))
    return cls(FakeContext(cls.id, validated, **kwargs))
