"""The email provider operators configure at run time (dashboard, Management API), which takes
over from `PROVIDER_SMTP_URL` (and from the built-in test provider) while it is enabled.

Kept as one runtime setting; the SMTP password is sealed with the server key and never read
back out through any interface (write-only, as Auth0's `smtp_pass`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from provider.db.store import Store
from provider.security.secrets import SecretBox
from provider.settings import Settings, SmtpSettings

KEY = "mail.provider"
TLS_MODES = ("none", "starttls", "tls")
CACHE_SECONDS = 2.0  # other replicas pick up a change within this


@dataclass(frozen=True)
class EmailProvider:
    enabled: bool
    host: str
    port: int
    user: str | None
    tls: str  # none | starttls | tls
    default_from_address: str | None
    has_password: bool = False

    def public(self) -> dict[str, Any]:
        """Auth0's shape, without the password."""
        return {
            "name": "smtp",
            "enabled": self.enabled,
            "default_from_address": self.default_from_address,
            "credentials": {
                "smtp_host": self.host,
                "smtp_port": self.port,
                "smtp_user": self.user,
                "smtp_tls": self.tls,
            },
        }


class EmailProviderConfig:
    def __init__(self, store: Store, box: SecretBox, settings: Settings) -> None:
        self._store = store
        self._box = box
        self._settings = settings
        self._cached: tuple[float, dict[str, Any] | None] | None = None

    async def _raw(self) -> dict[str, Any] | None:
        if self._cached and self._cached[0] > time.monotonic():
            return self._cached[1]
        raw = await self._store.runtime.get(KEY)
        self._cached = (time.monotonic() + CACHE_SECONDS, raw)
        return raw

    async def get(self) -> EmailProvider | None:
        raw = await self._raw()
        if not raw:
            return None
        fields = {k: raw[k] for k in ("enabled", "host", "port", "user", "tls")}
        return EmailProvider(
            **fields,
            default_from_address=raw.get("default_from_address"),
            has_password=bool(raw.get("sealed_password")),
        )

    async def save(self, provider: EmailProvider, password: str | None) -> None:
        """Store a configuration; `password=None` keeps the stored one."""
        old = await self._store.runtime.get(KEY) or {}
        raw = asdict(replace(provider, has_password=False))
        raw.pop("has_password")
        if password is not None:
            raw["sealed_password"] = (
                self._box.seal(password.encode(), "mail.provider") if password else None
            )
        else:
            raw["sealed_password"] = old.get("sealed_password")
        await self._store.runtime.set(KEY, raw)
        self._cached = None

    async def delete(self) -> bool:
        existed = await self._store.runtime.get(KEY) is not None
        await self._store.runtime.delete(KEY)
        self._cached = None
        return existed

    async def stored_password(self) -> str | None:
        raw = await self._raw()
        sealed = raw.get("sealed_password") if raw else None
        return self._box.unseal(sealed, "mail.provider").decode() if sealed else None

    def smtp_of(self, provider: EmailProvider, password: str | None) -> SmtpSettings:
        return SmtpSettings(
            host=provider.host,
            port=provider.port,
            username=provider.user or None,
            password=password or None,
            tls=provider.tls,
        )

    async def current_smtp(self) -> SmtpSettings | None:
        """What mail goes through now: the enabled runtime provider, else PROVIDER_SMTP_URL,
        else None (the built-in test provider)."""
        raw = await self._raw()
        if raw and raw.get("enabled"):
            provider = await self.get()
            assert provider is not None
            sealed = raw.get("sealed_password")
            password = self._box.unseal(sealed, "mail.provider").decode() if sealed else None
            return self.smtp_of(provider, password)
        return self._settings.smtp

    async def from_address(self) -> str:
        raw = await self._raw()
        if raw and raw.get("enabled") and raw.get("default_from_address"):
            return str(raw["default_from_address"])
        return self._settings.mail_from
