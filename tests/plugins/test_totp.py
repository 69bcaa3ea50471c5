"""The TOTP factor plugin, in isolation (fake context)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from plugins.totp import TotpFactor, hotp_code, totp_code
from provider.mfa import Authenticator, EnrollmentError, FactorConfigError, UserView
from tests.plugins.fake_context import FakeContext, make_factor

pytestmark = pytest.mark.anyio

ALICE = UserView(id="usr_alice", email="alice+mfa@example.com", email_verified=True)
BOB = UserView(id="usr_bob", email="bob@example.com", email_verified=True)
T0 = 1_700_000_010  # 10 s into a 30 s step


@pytest.mark.parametrize(
    ("for_time", "code"),
    [
        (59, "287082"),
        (1111111109, "081804"),
        (1111111111, "050471"),
        (1234567890, "005924"),
        (2000000000, "279037"),
    ],
)
def test_rfc6238_sha1_vectors(for_time: int, code: str) -> None:
    # RFC 6238 appendix B (8 digits there; these are the last 6).
    assert totp_code(b"12345678901234567890", for_time) == code


def test_rfc4226_hotp_vectors() -> None:
    expected = [
        "755224",
        "287082",
        "359152",
        "969429",
        "338314",
        "254676",
        "287922",
        "162583",
        "399871",
        "520489",
    ]
    assert [hotp_code(b"12345678901234567890", i) for i in range(10)] == expected


def totp_of(factor: TotpFactor, secret_b32: str, offset_steps: int = 0) -> str:
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return totp_code(secret, factor.context.now() + 30 * offset_steps)


def authenticator(authenticator_id: str) -> Authenticator:
    return Authenticator(id=authenticator_id, factor_id="otp", authenticator_type="otp")


async def enrolled(factor: TotpFactor, user: UserView = ALICE) -> tuple[Authenticator, str]:
    """An enrolled authenticator, and its secret in base32; the clock is moved to a fresh step
    so the code used to confirm cannot collide with the test's own codes."""
    enrollment = await factor.begin_enrollment(user)
    assert enrollment.secret is not None
    verdict = await factor.confirm_enrollment(
        user, enrollment.authenticator_id, totp_of(factor, enrollment.secret)
    )
    assert verdict.accepted
    context: Any = factor.context
    context.set_time(context.now() + 300)
    return authenticator(enrollment.authenticator_id), enrollment.secret


@pytest.fixture
def factor() -> TotpFactor:
    totp = make_factor(TotpFactor, {"issuer_label": "Example Co"})
    totp.context.set_time(T0)  # type: ignore[attr-defined]
    return totp


async def test_enrollment_returns_secret_uri_and_qr(factor: TotpFactor) -> None:
    enrollment = await factor.begin_enrollment(ALICE)
    assert enrollment.authenticator_id.startswith("otp|dev_")
    assert enrollment.secret and len(enrollment.secret) == 32 and "=" not in enrollment.secret
    assert len(base64.b32decode(enrollment.secret)) == 20

    assert enrollment.uri is not None
    uri = urlsplit(enrollment.uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/Example%20Co:alice%2Bmfa@example.com"
    assert unquote(uri.path) == "/Example Co:alice+mfa@example.com"
    query = parse_qs(uri.query)
    assert query == {
        "secret": [enrollment.secret],
        "issuer": ["Example Co"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }

    assert enrollment.qr_svg and enrollment.qr_svg.startswith("<svg")
    assert "<?xml" not in enrollment.qr_svg and enrollment.qr_svg.endswith("</svg>")
    # The namespace is needed when the page shows it as an <img> data: URI.
    assert 'xmlns="http://www.w3.org/2000/svg"' in enrollment.qr_svg
    assert enrollment.instructions

    # Pending: stored with its secret, but not usable yet.
    row = await factor.context.authenticators.get(enrollment.authenticator_id)
    assert row is not None and not row.confirmed and row.user_id == ALICE.id
    assert row.secret == base64.b32decode(enrollment.secret)
    assert await factor.list_authenticators(ALICE) == []


async def test_label_defaults_to_service_name() -> None:
    factor = make_factor(TotpFactor, service_name="Acme: Identity")
    enrollment = await factor.begin_enrollment(BOB)
    assert enrollment.uri is not None
    assert enrollment.uri.startswith("otpauth://totp/Acme%20%20Identity:bob@example.com?")
    assert "&issuer=Acme%20%20Identity&" in enrollment.uri


async def test_confirm_with_the_right_code(factor: TotpFactor) -> None:
    enrollment = await factor.begin_enrollment(ALICE)
    assert enrollment.secret is not None
    wrong = await factor.confirm_enrollment(ALICE, enrollment.authenticator_id, "000000")
    assert not wrong.accepted and wrong.message == "The code you entered is invalid."

    code = totp_of(factor, enrollment.secret)
    verdict = await factor.confirm_enrollment(
        ALICE, enrollment.authenticator_id, f" {code[:3]} {code[3:]} "
    )
    assert verdict.accepted
    listed = await factor.list_authenticators(ALICE)
    assert [a.id for a in listed] == [enrollment.authenticator_id]
    assert listed[0].authenticator_type == "otp" and listed[0].name == "Authenticator app"

    # The code that confirmed the enrollment cannot also be used to log in.
    again = await factor.verify(ALICE, listed[0], "txn", code)
    assert not again.accepted
    assert again.message == "This code was already used. Wait for the next one."

    # Confirmed: it cannot be confirmed again.
    with pytest.raises(EnrollmentError):
        await factor.confirm_enrollment(ALICE, enrollment.authenticator_id, code)


async def test_confirm_another_users_enrollment_fails(factor: TotpFactor) -> None:
    enrollment = await factor.begin_enrollment(ALICE)
    assert enrollment.secret is not None
    with pytest.raises(EnrollmentError):
        await factor.confirm_enrollment(
            BOB, enrollment.authenticator_id, totp_of(factor, enrollment.secret)
        )


async def test_new_enrollment_discards_the_pending_one(factor: TotpFactor) -> None:
    first = await factor.begin_enrollment(ALICE)
    second = await factor.begin_enrollment(ALICE)
    assert await factor.context.authenticators.get(first.authenticator_id) is None
    assert await factor.context.authenticators.get(second.authenticator_id) is not None


async def test_verify(factor: TotpFactor) -> None:
    auth, secret = await enrolled(factor)
    challenge = await factor.challenge(ALICE, auth, "txn")
    assert challenge.prompt == "Enter the 6-digit code from your authenticator app."
    assert (challenge.input_label, challenge.input_mode) == ("Code", "numeric")
    assert challenge.authenticator_id == auth.id

    good = totp_of(factor, secret)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for bad in (wrong, "", "12345", "1234567", "abcdef", "１２３４５６"):
        verdict = await factor.verify(ALICE, auth, "txn", bad)
        assert not verdict.accepted and verdict.message == "The code you entered is invalid."
    assert (await factor.verify(ALICE, auth, "txn", good)).accepted


async def test_replayed_code_is_refused(factor: TotpFactor) -> None:
    auth, secret = await enrolled(factor)
    code = totp_of(factor, secret)
    assert (await factor.verify(ALICE, auth, "txn-1", code)).accepted
    replay = await factor.verify(ALICE, auth, "txn-2", code)
    assert not replay.accepted
    assert replay.message == "This code was already used. Wait for the next one."
    # Still refused within the window, however the clock moves.
    factor.context.set_time(factor.context.now() + 25)  # type: ignore[attr-defined]
    assert not (await factor.verify(ALICE, auth, "txn-3", code)).accepted
    # The next code works.
    factor.context.set_time(factor.context.now() + 30)  # type: ignore[attr-defined]
    assert (await factor.verify(ALICE, auth, "txn-4", totp_of(factor, secret))).accepted


async def test_window_of_one_step(factor: TotpFactor) -> None:
    auth, secret = await enrolled(factor)
    for offset in (-2, 2):
        refused = await factor.verify(ALICE, auth, "txn", totp_of(factor, secret, offset))
        assert not refused.accepted and refused.message == "The code you entered is invalid."
    # Earlier step first: an accepted step also retires the earlier ones.
    assert (await factor.verify(ALICE, auth, "txn", totp_of(factor, secret, -1))).accepted
    assert (await factor.verify(ALICE, auth, "txn", totp_of(factor, secret, +1))).accepted
    assert not (await factor.verify(ALICE, auth, "txn", totp_of(factor, secret, 0))).accepted


async def test_window_settings() -> None:
    strict = make_factor(TotpFactor, {"window": 0})
    auth, secret = await enrolled(strict)
    assert not (await strict.verify(ALICE, auth, "txn", totp_of(strict, secret, -1))).accepted
    assert (await strict.verify(ALICE, auth, "txn", totp_of(strict, secret))).accepted

    lenient = make_factor(TotpFactor, {"window": 2})
    auth, secret = await enrolled(lenient)
    assert not (await lenient.verify(ALICE, auth, "txn", totp_of(lenient, secret, -3))).accepted
    assert (await lenient.verify(ALICE, auth, "txn", totp_of(lenient, secret, -2))).accepted


async def test_another_users_authenticator_is_refused(factor: TotpFactor) -> None:
    auth, secret = await enrolled(factor, ALICE)
    verdict = await factor.verify(BOB, auth, "txn", totp_of(factor, secret))
    assert not verdict.accepted
    # ...and the refusal did not burn Alice's code.
    assert (await factor.verify(ALICE, auth, "txn", totp_of(factor, secret))).accepted


async def test_pending_and_foreign_rows_are_refused(factor: TotpFactor) -> None:
    enrollment = await factor.begin_enrollment(ALICE)
    assert enrollment.secret is not None
    pending = authenticator(enrollment.authenticator_id)
    code = totp_of(factor, enrollment.secret)
    assert not (await factor.verify(ALICE, pending, "txn", code)).accepted

    # A row of another factor in the same database is invisible to this one.
    other = FakeContext("example-pin", db=factor.context.db)  # type: ignore[attr-defined]
    row = await other.authenticators.create(ALICE.id, secret=b"x" * 20, confirmed=True)
    code = totp_code(b"x" * 20, factor.context.now())
    assert not (await factor.verify(ALICE, authenticator(row.id), "txn", code)).accepted


def test_settings_defaults() -> None:
    assert TotpFactor.validate_settings({}) == {"window": 1}
    assert TotpFactor.validate_settings({"issuer_label": " Acme ", "window": 2}) == {
        "issuer_label": "Acme",
        "window": 2,
    }


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"digits": 8}, "digits"),
        ({"window": 3}, "window"),
        ({"window": -1}, "window"),
        ({"window": "1"}, "window"),
        ({"window": True}, "window"),
        ({"issuer_label": "x" * 65}, "issuer_label"),
        ({"issuer_label": ""}, "issuer_label"),
        ({"issuer_label": 42}, "issuer_label"),
        ({"issuer_label": "Acme:Prod"}, "issuer_label"),
    ],
)
def test_settings_errors(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(FactorConfigError, match=named):
        TotpFactor.validate_settings(settings)
