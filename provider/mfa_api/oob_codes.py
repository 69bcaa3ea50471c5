"""`oob_code`: the opaque handle /mfa/challenge and /mfa/associate return for an emailed code.

It is signed rather than stored: it names the user, the authenticator the code was sent for,
and (for a challenge) the MFA transaction, and expires with the longest code lifetime. The
emailed code itself is the secret; the oob_code only says which pending check it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from provider.mfa_api.errors import error
from provider.security.secrets import SecretBox

OOB_CODE_MAX_AGE = 600  # the email factor's longest code lifetime


@dataclass(frozen=True)
class OobCode:
    user_id: str
    authenticator_id: str
    tx_id: str | None  # set for a challenge; None for an enrollment (confirmed on any tx)


def _serializer(box: SecretBox) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(box.signing_key, salt="provider.mfa.oob-code")


def issue_oob_code(box: SecretBox, code: OobCode) -> str:
    return str(
        _serializer(box).dumps({"u": code.user_id, "a": code.authenticator_id, "t": code.tx_id})
    )


def read_oob_code(box: SecretBox, value: str) -> OobCode:
    if len(value) > 1000:
        raise error("wrong_oob_code")
    try:
        data = _serializer(box).loads(value, max_age=OOB_CODE_MAX_AGE)
    except SignatureExpired as exc:
        raise error("oob_code_expired") from exc
    except BadSignature as exc:
        raise error("wrong_oob_code") from exc
    if not isinstance(data, dict) or not isinstance(data.get("u"), str):
        raise error("wrong_oob_code")
    return OobCode(str(data["u"]), str(data.get("a", "")), data.get("t") or None)
