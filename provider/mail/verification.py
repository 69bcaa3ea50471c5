"""Email verification links: signed (itsdangerous), expiring, single use, and bound to the
address they were sent to, so a link for an old address cannot verify a changed one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from provider.clock import now
from provider.db.records import User
from provider.db.store import Store
from provider.mail.mailer import Mailer
from provider.security.secrets import SecretBox
from provider.settings import Settings

LINK_LIFETIME_SECONDS = 24 * 3600
SALT = "provider.verify-email"


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    message: str


def _serializer(box: SecretBox) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(box.signing_key, salt=SALT)


def verification_link(settings: Settings, box: SecretBox, user: User) -> str:
    token = _serializer(box).dumps({"u": user.id, "e": user.email, "j": secrets.token_hex(12)})
    return settings.url("verify-email") + "?" + urlencode({"token": token})


async def send_verification(settings: Settings, box: SecretBox, mailer: Mailer, user: User) -> str:
    """Queue the verify_email message; returns the outbox message id."""
    return await mailer.enqueue(
        "verify_email",
        user.email,
        {
            "url": verification_link(settings, box, user),
            "lifetime_minutes": LINK_LIFETIME_SECONDS // 60,
            "user": {"email": user.email, "name": user.name},
        },
    )


async def verify_token(store: Store, box: SecretBox, token: str) -> VerificationResult:
    try:
        data = _serializer(box).loads(token, max_age=LINK_LIFETIME_SECONDS)
    except SignatureExpired:
        return VerificationResult(False, "This link has expired. Ask for a new one.")
    except (BadSignature, ValueError, TypeError):
        return VerificationResult(False, "This link is not valid.")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "uej"):
        return VerificationResult(False, "This link is not valid.")
    if not await store.used_links.use("verify:" + data["j"], now() + LINK_LIFETIME_SECONDS):
        return VerificationResult(False, "This link was already used.")
    if not await store.users.set_email_verified(data["u"], True, email=data["e"]):
        return VerificationResult(False, "This link is for an address the account no longer has.")
    return VerificationResult(True, "Your email address is verified.")
