"""Brute-force protection for password sign-in: buckets per account and per client address.

Only failures are charged. The account bucket is keyed by a keyed hash of the submitted email,
whether or not such a user exists, so being throttled reveals nothing about an account.
A successful sign-in empties the account's bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from provider.db.store import Store
from provider.security.secrets import SecretBox


@dataclass(frozen=True)
class Limit:
    burst: int
    interval_ms: int


ACCOUNT_FAILURES = Limit(burst=10, interval_ms=60_000)  # 10 tries, then one a minute
ADDRESS_FAILURES = Limit(burst=100, interval_ms=6_000)  # 100 tries, then ten a minute


class LoginThrottle:
    def __init__(self, store: Store, box: SecretBox) -> None:
        self._limits = store.rate_limits
        self._box = box

    def _keys(self, email: str, address: str) -> list[tuple[str, Limit]]:
        account = "login:acct:" + self._box.keyed_hash(email.strip().lower())[:40]
        return [(account, ACCOUNT_FAILURES), ("login:ip:" + address[:64], ADDRESS_FAILURES)]

    async def blocked(self, email: str, address: str) -> bool:
        for key, limit in self._keys(email, address):
            if not await self._limits.allowed(key, limit.burst, limit.interval_ms):
                return True
        return False

    async def failed(self, email: str, address: str) -> None:
        for key, limit in self._keys(email, address):
            await self._limits.charge(key, limit.burst, limit.interval_ms)

    async def succeeded(self, email: str, address: str) -> None:
        await self._limits.reset(self._keys(email, address)[0][0])
