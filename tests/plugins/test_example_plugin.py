"""The third-party example plugin: discoverable as an installed distribution, and working."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points
from typing import Any

import pytest

from provider.mfa import EnrollmentError, Factor, FactorConfigError, UserView
from tests.plugins.fake_context import make_factor

ALICE = UserView(id="usr_alice", email="alice@example.com", email_verified=True)
BOB = UserView(id="usr_bob", email="bob@example.com", email_verified=True)


def load_pin_factor() -> type[Factor]:
    found = [ep for ep in entry_points(group="provider.factors") if ep.name == "example-pin"]
    if not found:
        pytest.fail("not installed: run `.venv/bin/pip install -e tests/plugins/example_factor`")
    (ep,) = found
    assert ep.value == "provider_example_factor:PinFactor"
    assert ep.dist is not None and ep.dist.name == "provider-example-factor"
    return ep.load()


def test_entry_point_is_discoverable() -> None:
    assert distribution("provider-example-factor").version == "0.1.0"
    cls = load_pin_factor()
    assert issubclass(cls, Factor)
    assert cls.id == "example-pin"  # the entry-point name is the factor id
    assert cls.display_name == "Security PIN (example plugin)"
    assert (cls.authenticator_type, cls.independent, cls.amr) == ("otp", True, ("pin",))


def test_settings() -> None:
    cls = load_pin_factor()
    assert cls.validate_settings({}) == {"length": 6}
    assert cls.validate_settings({"length": 12}) == {"length": 12}
    for bad, named in [
        ({"length": 5}, "length"),
        ({"length": 13}, "length"),
        ({"length": "8"}, "length"),
        ({"length": True}, "length"),
        ({"colour": "red"}, "colour"),
    ]:
        with pytest.raises(FactorConfigError, match=named):
            cls.validate_settings(bad)


@pytest.mark.anyio
async def test_enroll_and_verify_a_pin() -> None:
    factor: Any = make_factor(load_pin_factor(), {"length": 8})
    enrollment = await factor.begin_enrollment(ALICE)
    assert enrollment.instructions == "Choose a PIN of 8 digits and enter it below."
    assert enrollment.secret is None and enrollment.uri is None

    # Wrong shapes are refused and the enrollment stays pending.
    for bad in ("1234567", "123456789", "1234567a", ""):
        verdict = await factor.confirm_enrollment(ALICE, enrollment.authenticator_id, bad)
        assert not verdict.accepted and verdict.message == "Your PIN must be exactly 8 digits."
    with pytest.raises(EnrollmentError):  # not Bob's
        await factor.confirm_enrollment(BOB, enrollment.authenticator_id, "12345678")

    assert (
        await factor.confirm_enrollment(ALICE, enrollment.authenticator_id, "12345678")
    ).accepted
    (auth,) = await factor.list_authenticators(ALICE)
    assert auth.factor_id == "example-pin" and auth.name == "Security PIN"

    rows = await factor.context.authenticators.list(ALICE.id, confirmed_only=False)
    assert len(rows) == 1 and rows[0].secret is None
    assert "12345678" not in repr(rows[0].data)

    challenge = await factor.challenge(ALICE, auth, "txn")
    assert challenge.input_mode == "numeric"
    assert (await factor.verify(ALICE, auth, "txn", "12345678")).accepted
    assert (await factor.verify(ALICE, auth, "txn", " 12345678 ")).accepted  # not single use
    refused = await factor.verify(ALICE, auth, "txn", "87654321")
    assert not refused.accepted and refused.message == "The PIN is invalid."
    assert not (await factor.verify(BOB, auth, "txn", "12345678")).accepted


@pytest.mark.anyio
async def test_same_pin_different_users_different_hashes() -> None:
    factor: Any = make_factor(load_pin_factor())
    for user in (ALICE, BOB):
        enrollment = await factor.begin_enrollment(user)
        assert (
            await factor.confirm_enrollment(user, enrollment.authenticator_id, "246810")
        ).accepted
    (alice,) = await factor.context.authenticators.list(ALICE.id)
    (bob,) = await factor.context.authenticators.list(BOB.id)
    assert alice.data["hash"] != bob.data["hash"]
