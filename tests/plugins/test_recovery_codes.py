"""The recovery-code factor plugin, in isolation (fake context)."""

from __future__ import annotations

import asyncio
import base64
import math
import re

import pytest

from plugins.recovery_codes import RecoveryCodeFactor
from provider.mfa import Authenticator, EnrollmentError, UserView
from tests.plugins.fake_context import make_factor

pytestmark = pytest.mark.anyio

ALICE = UserView(id="usr_alice", email="alice@example.com", email_verified=True)
BOB = UserView(id="usr_bob", email="bob@example.com", email_verified=True)
FORMAT = re.compile(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}")


@pytest.fixture
def factor() -> RecoveryCodeFactor:
    return make_factor(RecoveryCodeFactor)


async def the_authenticator(factor: RecoveryCodeFactor, user: UserView = ALICE) -> Authenticator:
    (only,) = await factor.list_authenticators(user)
    return only


def test_class_attributes() -> None:
    assert RecoveryCodeFactor.id == "recovery-code"
    assert RecoveryCodeFactor.authenticator_type == "recovery-code"
    assert RecoveryCodeFactor.independent is False
    assert RecoveryCodeFactor.enrollable is False
    assert RecoveryCodeFactor.amr == ()


async def test_provision_gives_one_strong_code_stored_as_a_hash(factor: RecoveryCodeFactor) -> None:
    (code,) = await factor.provision(ALICE)
    assert FORMAT.fullmatch(code), code
    plain = code.replace("-", "")
    assert len(plain) == 16
    assert len(base64.b32decode(plain)) * 8 == 80
    assert 16 * math.log2(32) >= 64

    rows = await factor.context.authenticators.list(ALICE.id, confirmed_only=False)
    assert len(rows) == 1
    row = rows[0]
    assert row.confirmed and row.name == "Recovery code" and row.secret is None
    assert set(row.data) == {"hash"}
    stored = repr(row.data)
    assert plain not in stored and code not in stored and plain.lower() not in stored

    auth = await the_authenticator(factor)
    assert auth.id == row.id and auth.authenticator_type == "recovery-code"


async def test_provision_replaces_the_previous_code(factor: RecoveryCodeFactor) -> None:
    (first,) = await factor.provision(ALICE)
    old = await the_authenticator(factor)
    (second,) = await factor.provision(ALICE)
    assert first != second
    assert not (await factor.verify(ALICE, old, "txn", first)).accepted
    assert (await factor.verify(ALICE, await the_authenticator(factor), "txn", second)).accepted


async def test_codes_differ_between_users(factor: RecoveryCodeFactor) -> None:
    (alice,) = await factor.provision(ALICE)
    (bob,) = await factor.provision(BOB)
    assert alice != bob
    # Bob cannot use Alice's authenticator, even with her code.
    verdict = await factor.verify(BOB, await the_authenticator(factor, ALICE), "txn", alice)
    assert not verdict.accepted
    bobs = await the_authenticator(factor, BOB)
    assert not (await factor.verify(BOB, bobs, "txn", alice)).accepted


@pytest.mark.parametrize(
    "typed",
    [
        lambda code: code,
        lambda code: code.replace("-", ""),
        lambda code: code.lower(),
        lambda code: f"  {code.replace('-', ' ').lower()} ",
    ],
)
async def test_verify_accepts_the_code_as_typed(factor: RecoveryCodeFactor, typed) -> None:
    (code,) = await factor.provision(ALICE)
    verdict = await factor.verify(ALICE, await the_authenticator(factor), "txn", typed(code))
    assert verdict.accepted and verdict.message is None


async def test_single_use_and_rotated(factor: RecoveryCodeFactor) -> None:
    (code,) = await factor.provision(ALICE)
    first = await the_authenticator(factor)
    challenge = await factor.challenge(ALICE, first, "txn")
    assert challenge.prompt == "Enter your recovery code."
    assert (challenge.input_label, challenge.input_mode) == ("Recovery code", "text")

    verdict = await factor.verify(ALICE, first, "txn", code)
    assert verdict.accepted
    new_code = verdict.new_secret
    assert new_code is not None and FORMAT.fullmatch(new_code) and new_code != code

    # The old code no longer works, neither via the old row nor the new one.
    for auth in (first, await the_authenticator(factor)):
        refused = await factor.verify(ALICE, auth, "txn", code)
        assert not refused.accepted and refused.message == "The recovery code is invalid."

    second = await the_authenticator(factor)
    assert second.id != first.id
    again = await factor.verify(ALICE, second, "txn", new_code)
    assert again.accepted and again.new_secret not in (None, code, new_code)


async def test_wrong_code_is_refused_and_keeps_the_right_one(factor: RecoveryCodeFactor) -> None:
    (code,) = await factor.provision(ALICE)
    auth = await the_authenticator(factor)
    for wrong in ("", "AAAA-AAAA-AAAA-AAAA", code[:-1], code + "A"):
        verdict = await factor.verify(ALICE, auth, "txn", wrong)
        assert not verdict.accepted and verdict.message == "The recovery code is invalid."
        assert verdict.new_secret is None
    assert (await factor.verify(ALICE, auth, "txn", code)).accepted


async def test_concurrent_use_accepts_exactly_once(factor: RecoveryCodeFactor) -> None:
    (code,) = await factor.provision(ALICE)
    auth = await the_authenticator(factor)
    verdicts = await asyncio.gather(
        *(factor.verify(ALICE, auth, f"txn-{i}", code) for i in range(5))
    )
    assert sum(v.accepted for v in verdicts) == 1
    # Exactly one replacement code exists, and it is the one handed out.
    (new_code,) = [v.new_secret for v in verdicts if v.accepted]
    assert new_code is not None
    assert len(await factor.context.authenticators.list(ALICE.id, confirmed_only=False)) == 1
    assert (await factor.verify(ALICE, await the_authenticator(factor), "txn", new_code)).accepted


async def test_not_enrollable(factor: RecoveryCodeFactor) -> None:
    with pytest.raises(EnrollmentError):
        await factor.begin_enrollment(ALICE)
