"""The context each factor plugin gets: its settings, its own storage, hashing, clock, limits."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provider.clock import now
from provider.db.authenticators import FactorAuthenticatorStorage
from provider.db.factor_codes import FactorCodeStorage
from provider.db.outbox import OutboxStore
from provider.db.rate_limits import RateLimitStore
from provider.mail.mailer import Mailer
from provider.security.secrets import SecretBox


class NamespacedLimiter:
    """Rate-limit buckets whose keys are prefixed with the factor's id, so plugins cannot
    touch each other's (or provider's) buckets."""

    def __init__(self, limits: RateLimitStore, factor_id: str) -> None:
        self._limits = limits
        self._prefix = f"factor:{factor_id}:"

    async def charge(self, key: str, burst: int, interval_ms: int) -> bool:
        return await self._limits.charge(self._prefix + key, burst, interval_ms)

    async def allowed(self, key: str, burst: int, interval_ms: int) -> bool:
        return await self._limits.allowed(self._prefix + key, burst, interval_ms)

    async def reset(self, key: str) -> None:
        await self._limits.reset(self._prefix + key)


# Set by the front doors (pages, API) for the request being served.
current_client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_client_address", default=None
)


class PluginMail:
    """`MailSender` over provider's mailer and outbox."""

    def __init__(self, mailer: Mailer, outbox: OutboxStore) -> None:
        self._mailer = mailer
        self._outbox = outbox

    async def send(self, template: str, to: str, variables: Mapping[str, Any]) -> str:
        return await self._mailer.enqueue(template, to, dict(variables))

    async def delayed(self) -> bool:
        return await self._outbox.delivery_troubled()


@dataclass
class PluginContext:
    factor_id: str
    settings: Mapping[str, Any]
    issuer: str
    service_name: str
    authenticators: FactorAuthenticatorStorage
    limiter: NamespacedLimiter
    codes: FactorCodeStorage
    mail: PluginMail
    _box: SecretBox

    def now(self) -> int:
        return now()

    def client_address(self) -> str | None:
        return current_client_address.get()

    def keyed_hash(self, value: str) -> str:
        return self._box.keyed_hash(f"factor:{self.factor_id}:{value}")
