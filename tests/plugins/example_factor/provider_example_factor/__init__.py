"""An example third-party factor plugin for provider: a security PIN the user chooses.

It shows the whole plugin API on a small scale: settings validation, an enrollment the user
completes with a first response, storage of a keyed hash only, and verification. (A PIN is a
weak second factor; this is a teaching example, not a recommendation.)
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from provider.mfa import (
    Authenticator,
    Challenge,
    Enrollment,
    EnrollmentError,
    Factor,
    FactorConfigError,
    StoredAuthenticator,
    UserView,
    Verdict,
)

__all__ = ["PinFactor"]

NAME = "Security PIN"
INVALID = "The PIN is invalid."


class PinFactor(Factor):
    """A numeric PIN of a configured length, chosen by the user at enrollment."""

    id: ClassVar[str] = "example-pin"
    display_name: ClassVar[str] = "Security PIN (example plugin)"
    authenticator_type: ClassVar[str] = "otp"
    independent: ClassVar[bool] = True
    amr: ClassVar[tuple[str, ...]] = ("pin",)

    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        unknown = sorted(set(settings) - {"length"})
        if unknown:
            raise FactorConfigError(f"unknown setting(s): {', '.join(unknown)}")
        length = settings.get("length", 6)
        if not isinstance(length, int) or isinstance(length, bool) or not 6 <= length <= 12:
            raise FactorConfigError("length: must be an integer from 6 to 12")
        return {"length": length}

    @property
    def _length(self) -> int:
        return int(self.context.settings.get("length", 6))

    def _hash(self, user: UserView, pin: str) -> str:
        # Bound to the user, so two users with the same PIN do not share a stored hash.
        return self.context.keyed_hash(f"{self.id}:{user.id}:{pin}")

    async def _own_row(
        self, user: UserView, authenticator_id: str, *, confirmed: bool
    ) -> StoredAuthenticator | None:
        row = await self.context.authenticators.get(authenticator_id)
        if row is None or row.user_id != user.id or row.confirmed != confirmed:
            return None
        return row

    async def begin_enrollment(self, user: UserView) -> Enrollment:
        row = await self.context.authenticators.create(user.id, name=NAME, confirmed=False)
        return Enrollment(
            authenticator_id=row.id,
            instructions=f"Choose a PIN of {self._length} digits and enter it below.",
        )

    async def confirm_enrollment(
        self, user: UserView, authenticator_id: str, response: str
    ) -> Verdict:
        storage = self.context.authenticators
        pending = await self._own_row(user, authenticator_id, confirmed=False)
        if pending is None:
            raise EnrollmentError("This enrollment is no longer pending. Please start again.")
        pin = response.strip()
        if not re.fullmatch(rf"[0-9]{{{self._length}}}", pin):
            return Verdict.refuse(f"Your PIN must be exactly {self._length} digits.")
        # Confirming stores the PIN's hash on the pending row, atomically (single use).
        if not await storage.confirm(pending.id, data={"hash": self._hash(user, pin)}):
            raise EnrollmentError("This enrollment is no longer pending. Please start again.")
        return Verdict.accept()

    async def challenge(
        self, user: UserView, authenticator: Authenticator, transaction_id: str
    ) -> Challenge:
        return Challenge(
            authenticator_id=authenticator.id,
            prompt=f"Enter your {self._length}-digit security PIN.",
            input_label="PIN",
            input_mode="numeric",
        )

    async def verify(
        self, user: UserView, authenticator: Authenticator, transaction_id: str, response: str
    ) -> Verdict:
        row = await self._own_row(user, authenticator.id, confirmed=True)
        if row is None:
            return Verdict.refuse(INVALID)
        expected = str(row.data.get("hash", ""))
        given = self._hash(user, response.strip())
        if not expected or not hmac.compare_digest(given, expected):
            return Verdict.refuse(INVALID)
        return Verdict.accept()
