"""The email factor: a 6-digit code sent to a verified address (Auth0's "email" MFA).

Usable without enrollment by every user whose email is verified (an implicit authenticator);
extra addresses can be enrolled and are confirmed with a code. Dependent: it accompanies an
independent factor unless the operator sets `standalone = true` (weaker: email is only as safe
as the mailbox, and NIST does not accept it as an out-of-band authenticator).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from provider.mfa import (
    Authenticator,
    Challenge,
    EnrollmentError,
    Factor,
    FactorConfigError,
    UserView,
    Verdict,
)

ADDRESS = re.compile(r"[^@\s<>\"(),;:\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def mask_address(address: str) -> str:
    """'chuck@example.com' -> 'chu**@exam*******': enough for the user to recognise it."""
    local, _, domain = address.partition("@")
    keep_local = max(1, min(4, len(local) // 2))
    keep_domain = max(1, min(4, len(domain) // 3))
    return (
        local[:keep_local]
        + "*" * (len(local) - keep_local)
        + "@"
        + domain[:keep_domain]
        + "*" * (len(domain) - keep_domain)
    )


DEFAULTS: dict[str, Any] = {
    "code_lifetime": 300,  # seconds; at most 600
    "standalone": False,
    "send_burst": 20,  # per user: 20 emails, then one a minute
    "send_interval_ms": 60_000,
    "resend_cooldown": 30,  # seconds between two codes to one user
    "ip_burst": 50,  # per client address
    "ip_interval_ms": 6_000,
}
INVALID = "The code you entered is invalid"
TOO_MANY = "You have exceeded the amount of emails. Wait a few minutes and try again."


def _code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class EmailFactor(Factor):
    id = "email"
    display_name = "Email"
    authenticator_type = "oob"
    oob_channel = "email"
    independent = False
    amr = ("email",)  # recorded distinctly: the weakest factor
    enrollable = False  # extra addresses are enrolled through the MFA API

    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise FactorConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        merged = {**DEFAULTS, **settings}
        for key, default in DEFAULTS.items():
            if type(merged[key]) is not type(default):
                raise FactorConfigError(f"{key}: must be {type(default).__name__}")
        if not 60 <= merged["code_lifetime"] <= 600:
            raise FactorConfigError("code_lifetime: between 60 and 600 seconds (at most 10 min)")
        return merged

    @property
    def standalone(self) -> bool:
        return bool(self.context.settings.get("standalone"))

    def _implicit_id(self, user: UserView) -> str:
        return f"email|dev_{self.context.keyed_hash('implicit:' + user.id)[:20]}"

    async def list_authenticators(self, user: UserView) -> list[Authenticator]:
        found = []
        if user.email_verified:
            found.append(
                Authenticator(
                    id=self._implicit_id(user),
                    factor_id=self.id,
                    authenticator_type="oob",
                    name=mask_address(user.email),
                    oob_channel="email",
                    implicit=True,
                )
            )
        for row in await self.context.authenticators.list(user.id):
            found.append(
                Authenticator(
                    id=row.id,
                    factor_id=self.id,
                    authenticator_type="oob",
                    name=mask_address(str(row.data.get("address", ""))),
                    oob_channel="email",
                )
            )
        return found

    async def _address(
        self, user: UserView, authenticator_id: str, confirmed: bool = True
    ) -> str | None:
        if authenticator_id == self._implicit_id(user):
            return user.email if user.email_verified else None
        row = await self.context.authenticators.get(authenticator_id)
        if row is None or row.user_id != user.id or row.confirmed != confirmed:
            return None
        return str(row.data.get("address"))

    async def _send_code(self, user: UserView, address: str, key: str) -> dict[str, Any]:
        """Send a new code unless a limit says no; returns what the page should say."""
        s, limiter = self.context.settings, self.context.limiter
        if not await limiter.allowed(f"cooldown:{user.id}", 1, s["resend_cooldown"] * 1000):
            return {
                "notice": f"A code was sent recently. Wait {s['resend_cooldown']} seconds "
                "before asking for another.",
                "sent": False,
            }
        address_key = self.context.client_address() or "unknown"
        if not (
            await limiter.charge(f"send:{user.id}", s["send_burst"], s["send_interval_ms"])
            and await limiter.charge(f"ip:{address_key}", s["ip_burst"], s["ip_interval_ms"])
        ):
            return {"notice": TOO_MANY, "sent": False, "throttled": True}
        await limiter.charge(f"cooldown:{user.id}", 1, s["resend_cooldown"] * 1000)
        code = _code()
        await self.context.codes.issue(key, self.context.keyed_hash(code), s["code_lifetime"])
        await self.context.mail.send(
            "mfa_oob_code",
            address,
            {
                "code": code,
                "lifetime_minutes": s["code_lifetime"] // 60,
                "user": {"email": user.email, "name": user.name},
                "friendly_name": address,
            },
        )
        details: dict[str, Any] = {"sent": True, "address": mask_address(address)}
        if await self.context.mail.delayed():
            details["notice"] = (
                "Email delivery is running late: your code is queued and "
                "will arrive as soon as the mail server accepts it."
            )
        return details

    async def challenge(
        self, user: UserView, authenticator: Authenticator, transaction_id: str
    ) -> Challenge:
        address = await self._address(user, authenticator.id)
        if address is None:
            raise EnrollmentError("This email address can no longer be used.")
        details = await self._send_code(user, address, f"{transaction_id}:{authenticator.id}")
        minutes = self.context.settings["code_lifetime"] // 60
        return Challenge(
            authenticator_id=authenticator.id,
            prompt=f"We sent a 6-digit code to {mask_address(address)}. It expires in "
            f"{minutes} minutes.",
            input_label="Code",
            input_mode="numeric",
            details=details,
        )

    async def verify(
        self, user: UserView, authenticator: Authenticator, transaction_id: str, response: str
    ) -> Verdict:
        code = response.strip().replace(" ", "")
        if not (len(code) == 6 and code.isdigit()):
            return Verdict.refuse(INVALID)
        outcome = await self.context.codes.consume(
            f"{transaction_id}:{authenticator.id}", self.context.keyed_hash(code)
        )
        if outcome == "ok":
            await self.context.limiter.reset(f"cooldown:{user.id}")
            return Verdict.accept()
        if outcome == "expired":
            return Verdict.refuse("This code has expired. Ask for a new one.", expired=True)
        return Verdict.refuse(INVALID)

    # -- enrolling extra addresses ------------------------------------------------------------
    async def begin_address_enrollment(self, user: UserView, address: str) -> str:
        """Add a pending address and send it a code; returns the pending authenticator id."""
        address = address.strip().lower()
        if not ADDRESS.fullmatch(address):
            raise EnrollmentError("That is not a valid email address.")
        mine = await self.context.authenticators.list(user.id, confirmed_only=False)
        if (address == user.email and user.email_verified) or any(
            row.data.get("address") == address for row in mine if row.confirmed
        ):
            raise EnrollmentError("This address can already be used for sign-in codes.")
        row = await self.context.authenticators.create(
            user.id, name=mask_address(address), data={"address": address}
        )
        details = await self._send_code(user, address, f"enroll:{row.id}")
        if not details.get("sent"):
            await self.context.authenticators.delete(row.id)
            raise EnrollmentError(str(details.get("notice", TOO_MANY)))
        return row.id

    async def confirm_enrollment(
        self, user: UserView, authenticator_id: str, response: str
    ) -> Verdict:
        """The code sent to a new address proves the user reads it."""
        row = await self.context.authenticators.get(authenticator_id)
        if row is None or row.user_id != user.id or row.confirmed:
            raise EnrollmentError("This enrollment is no longer pending. Please start again.")
        code = response.strip().replace(" ", "")
        if not (len(code) == 6 and code.isdigit()):
            return Verdict.refuse(INVALID)
        outcome = await self.context.codes.consume(
            f"enroll:{row.id}", self.context.keyed_hash(code)
        )
        if outcome == "expired":
            return Verdict.refuse("This code has expired. Start again.", expired=True)
        if outcome != "ok" or not await self.context.authenticators.confirm(row.id):
            return Verdict.refuse(INVALID)
        await self.context.limiter.reset(f"cooldown:{user.id}")  # the code arrived: no wait
        return Verdict.accept()
