"""Time-based one-time passwords from an authenticator app (RFC 6238)."""

from __future__ import annotations

import base64
import io
import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import segno

from plugins.totp.codes import DIGITS, PERIOD, hotp_code, matching_step, totp_code
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

__all__ = ["TotpFactor", "hotp_code", "totp_code"]

SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 recommends
MAX_LABEL = 64
INVALID_CODE = "The code you entered is invalid."
REPLAYED_CODE = "This code was already used. Wait for the next one."
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")  # ASCII digits only (str.isdigit allows others)


class TotpFactor(Factor):
    """An authenticator app (Google Authenticator, Aegis, 1Password…) sharing a TOTP secret."""

    id: ClassVar[str] = "otp"
    display_name: ClassVar[str] = "Authenticator app"
    authenticator_type: ClassVar[str] = "otp"
    independent: ClassVar[bool] = True
    amr: ClassVar[tuple[str, ...]] = ("otp",)

    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        unknown = sorted(set(settings) - {"issuer_label", "window"})
        if unknown:
            raise FactorConfigError(f"unknown setting(s): {', '.join(unknown)}")
        window = settings.get("window", 1)
        # bool is an int subclass; `window = true` is a mistake, not 1.
        if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 2:
            raise FactorConfigError("window: must be an integer from 0 to 2")
        result: dict[str, Any] = {"window": window}
        if "issuer_label" in settings:
            label = settings["issuer_label"]
            if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
                raise FactorConfigError(
                    f"issuer_label: must be a non-empty string of at most {MAX_LABEL} characters"
                )
            if ":" in label:
                # The otpauth label is "issuer:account"; apps split it on the first colon.
                raise FactorConfigError("issuer_label: must not contain ':'")
            result["issuer_label"] = label.strip()
        return result

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _window(self) -> int:
        return int(self.context.settings.get("window", 1))

    @property
    def _label(self) -> str:
        label = self.context.settings.get("issuer_label") or self.context.service_name
        return label.replace(":", " ").strip()[:MAX_LABEL]

    async def _own_row(
        self, user: UserView, authenticator_id: str, *, confirmed: bool
    ) -> StoredAuthenticator | None:
        """The row, if it is this user's and in the expected state (storage is only scoped to
        the factor, so ownership is checked here)."""
        row = await self.context.authenticators.get(authenticator_id)
        if row is None or row.user_id != user.id or row.confirmed != confirmed or not row.secret:
            return None
        return row

    async def _check(self, row: StoredAuthenticator, response: str) -> Verdict:
        """Accept a code of a step within the window that was never accepted before."""
        code = "".join(response.split())
        if not _CODE.fullmatch(code):
            return Verdict.refuse(INVALID_CODE)
        assert row.secret is not None
        step = matching_step(row.secret, code, self.context.now(), self._window, PERIOD)
        if step is None:
            return Verdict.refuse(INVALID_CODE)
        # The counter holds the last accepted step; the conditional update makes a step (and
        # every earlier one) single use, even when two requests race.
        if not await self.context.authenticators.advance_counter(row.id, step):
            return Verdict.refuse(REPLAYED_CODE)
        return Verdict.accept()

    def _uri(self, secret_b32: str, email: str) -> str:
        label = quote(self._label, safe="")
        account = quote(email, safe="@")
        return (
            f"otpauth://totp/{label}:{account}?secret={secret_b32}&issuer={label}"
            f"&algorithm=SHA1&digits={DIGITS}&period={PERIOD}"
        )

    # -- Factor ----------------------------------------------------------------------------

    async def begin_enrollment(self, user: UserView) -> Enrollment:
        storage = self.context.authenticators
        # An abandoned enrollment would otherwise leave a usable-looking secret behind.
        for row in await storage.list(user.id, confirmed_only=False):
            if not row.confirmed:
                await storage.delete(row.id)
        secret = secrets.token_bytes(SECRET_BYTES)
        row = await storage.create(
            user.id, name="Authenticator app", secret=secret, confirmed=False
        )
        secret_b32 = base64.b32encode(secret).decode("ascii").rstrip("=")
        uri = self._uri(secret_b32, user.email)
        return Enrollment(
            authenticator_id=row.id,
            instructions=(
                "Scan the QR code with your authenticator app, or enter the key by "
                f"hand, then enter the {DIGITS}-digit code the app shows."
            ),
            secret=secret_b32,
            uri=uri,
            qr_svg=qr_svg(uri),
        )

    async def confirm_enrollment(
        self, user: UserView, authenticator_id: str, response: str
    ) -> Verdict:
        row = await self._own_row(user, authenticator_id, confirmed=False)
        if row is None:
            raise EnrollmentError("This enrollment is no longer pending. Please start again.")
        verdict = await self._check(row, response)
        if verdict.accepted:
            await self.context.authenticators.confirm(row.id)
        return verdict

    async def challenge(
        self, user: UserView, authenticator: Authenticator, transaction_id: str
    ) -> Challenge:
        return Challenge(
            authenticator_id=authenticator.id,
            prompt=f"Enter the {DIGITS}-digit code from your authenticator app.",
            input_label="Code",
            input_mode="numeric",
        )

    async def verify(
        self, user: UserView, authenticator: Authenticator, transaction_id: str, response: str
    ) -> Verdict:
        row = await self._own_row(user, authenticator.id, confirmed=True)
        if row is None:
            return Verdict.refuse(INVALID_CODE)
        return await self._check(row, response)


def qr_svg(data: str) -> str:
    """A compact SVG of `data` without an XML declaration. It keeps the SVG namespace, so it
    works both inline in HTML and as an <img> data: URI (which needs the namespace). A white
    background keeps it scannable on dark themes."""
    qr = segno.make(data, error="m")
    out = io.BytesIO()
    qr.save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        svgclass="qr-code",
        lineclass=None,
        title="QR code for your authenticator app",
    )
    return out.getvalue().decode("utf-8")
