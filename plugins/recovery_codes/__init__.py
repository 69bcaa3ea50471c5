"""A single-use recovery code, for when the user's other factors are out of reach.

As in Auth0, a user has exactly one recovery code. It is provisioned when the user confirms
their first authenticator, shown once, stored only as a keyed hash, and replaced by a fresh
one (shown once again) each time it is used.

`amr` is empty: RFC 8176 has no value for recovery codes, and provider adds "mfa" to every
multi-factor login anyway.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import ClassVar

from provider.mfa import (
    Authenticator,
    Challenge,
    Factor,
    UserView,
    Verdict,
)

__all__ = ["RecoveryCodeFactor", "format_code", "new_code", "normalise"]

CODE_BYTES = 10  # 80 bits -> exactly 16 base32 characters, no padding
GROUP = 4
NAME = "Recovery code"
INVALID = "The recovery code is invalid."


def new_code() -> str:
    """16 random characters of the RFC 4648 base32 alphabet (A-Z, 2-7: no 0/1/8 to confuse)."""
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii")


def format_code(code: str) -> str:
    """ABCDEFGHJKLMNPQR -> ABCD-EFGH-JKLM-NPQR, easier to copy by hand."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise(response: str) -> str:
    """Accept the code as typed: any case, with or without dashes and spaces."""
    return "".join(response.replace("-", "").split()).upper()


class RecoveryCodeFactor(Factor):
    """One single-use recovery code per user, rotated on every use."""

    id: ClassVar[str] = "recovery-code"
    display_name: ClassVar[str] = "Recovery code"
    authenticator_type: ClassVar[str] = "recovery-code"
    independent: ClassVar[bool] = False
    amr: ClassVar[tuple[str, ...]] = ()
    enrollable: ClassVar[bool] = False  # provisioned by provider, never enrolled by the user

    async def regenerate(self, user: UserView) -> str:
        """Replace the user's recovery code with a new one and return it, formatted; the
        caller shows it once. Also for operators ("the user lost their code")."""
        storage = self.context.authenticators
        for row in await storage.list(user.id, confirmed_only=False):
            await storage.delete(row.id)
        code = new_code()
        await storage.create(
            user.id, name=NAME, data={"hash": self.context.keyed_hash(code)}, confirmed=True
        )
        return format_code(code)

    async def provision(self, user: UserView) -> list[str]:
        return [await self.regenerate(user)]

    async def challenge(
        self, user: UserView, authenticator: Authenticator, transaction_id: str
    ) -> Challenge:
        return Challenge(
            authenticator_id=authenticator.id,
            prompt="Enter your recovery code.",
            input_label="Recovery code",
            input_mode="text",
        )

    async def verify(
        self, user: UserView, authenticator: Authenticator, transaction_id: str, response: str
    ) -> Verdict:
        storage = self.context.authenticators
        row = await storage.get(authenticator.id)
        if row is None or row.user_id != user.id or not row.confirmed:
            return Verdict.refuse(INVALID)
        expected = str(row.data.get("hash", ""))
        given = self.context.keyed_hash(normalise(response))
        if not expected or not hmac.compare_digest(given, expected):
            return Verdict.refuse(INVALID)
        # Consume before accepting: the delete succeeds for exactly one of concurrent callers.
        if not await storage.delete(row.id):
            return Verdict.refuse(INVALID)
        return Verdict.accept(new_secret=await self.regenerate(user))
