"""docs/plugins.md keeps working: its example plugin (the first ```python block) is executed
and driven through enrollment, challenge and verification against the fake context; its
pyproject and provider.toml snippets load through the real registry; it names the whole API."""

from __future__ import annotations

import asyncio
import base64
import re
import sys
import tomllib
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import provider.mfa
from plugins.recovery_codes import RecoveryCodeFactor
from plugins.totp import TotpFactor
from plugins.totp.codes import hotp_code
from provider.mfa import (
    Authenticator,
    EnrollmentError,
    Factor,
    FactorConfigError,
    UserView,
)
from provider.mfa.registry import RegistryError, build_registry, discover
from tests.plugins.fake_context import FakeContext, make_factor

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
ALICE = UserView(id="usr_alice", email="alice@example.com", email_verified=True)
BOB = UserView(id="usr_bob", email="bob@example.com", email_verified=True)
RFC4226_SECRET = b"12345678901234567890"
RFC4226_CODES = [
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


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), re.M | re.S)


def example_module() -> types.ModuleType:
    """The first ```python block of the guide, executed as the module `provider_hotp`."""
    module = types.ModuleType("provider_hotp")
    module.__file__ = str(DOC)
    exec(compile(blocks("python")[0], f"{DOC}:example", "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.fixture(scope="module")
def example() -> types.ModuleType:
    return example_module()


@pytest.fixture
def factor_class(example: types.ModuleType) -> type[Factor]:
    classes = [
        value
        for value in vars(example).values()
        if isinstance(value, type) and issubclass(value, Factor) and value is not Factor
    ]
    assert len(classes) == 1, classes
    return classes[0]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def code_at(key_b32: str, counter: int) -> str:
    """The HOTP code of a base32 key, computed by provider's own RFC 4226 implementation."""
    return hotp_code(base64.b32decode(key_b32 + "=" * (-len(key_b32) % 8)), counter)


def wrong_code(key_b32: str, first: int, look_ahead: int) -> str:
    """A well-formed code that no counter of the window [first, first + look_ahead) yields."""
    window = {code_at(key_b32, c) for c in range(first, first + look_ahead)}
    return next(c for c in ("000000", "123456", "999999", "314159") if c not in window)


def stale(key_b32: str, counter: int, first: int, look_ahead: int) -> str:
    """The code of `counter`, which must be refused while the window is [first, first +
    look_ahead); skips the test in the one-in-a-hundred-thousand case that it collides with a
    code inside the window (the key is random)."""
    code = code_at(key_b32, counter)
    if code in {code_at(key_b32, c) for c in range(first, first + look_ahead)}:
        pytest.skip("the random key gave two equal codes")
    return code


def as_authenticator(factor: Factor, authenticator_id: str) -> Authenticator:
    return Authenticator(
        id=authenticator_id, factor_id=factor.id, authenticator_type=factor.authenticator_type
    )


# -- the document -------------------------------------------------------------------------------


def test_doc_names_every_public_api_name() -> None:
    text = DOC.read_text()
    missing = [name for name in provider.mfa.__all__ if f"`{name}`" not in text]
    assert not missing, missing


def test_doc_has_no_python_block_before_the_example() -> None:
    """The example must stay the first python block (the one this module runs)."""
    first = blocks("python")[0]
    assert "class HotpFactor(Factor)" in first
    assert "from provider.mfa import" in first
    # It imports only the public API (and the standard library).
    imports = re.findall(r"^(?:from|import) ([\w.]+)", first, re.M)
    assert {name.split(".")[0] for name in imports} <= {
        "__future__",
        "base64",
        "hashlib",
        "hmac",
        "secrets",
        "collections",
        "typing",
        "urllib",
        "provider",
    }
    assert [name for name in imports if name.startswith("provider")] == ["provider.mfa"]


# -- the example plugin -------------------------------------------------------------------------


def test_hotp_matches_rfc4226(example: types.ModuleType) -> None:
    assert [example.hotp(RFC4226_SECRET, i) for i in range(10)] == RFC4226_CODES


def test_class_attributes(factor_class: type[Factor]) -> None:
    assert factor_class.id == "hotp"
    assert factor_class.authenticator_type in provider.mfa.AUTHENTICATOR_TYPES
    assert factor_class.independent is True and factor_class.enrollable is True
    assert factor_class.amr == ("otp",)
    assert factor_class.display_name == "Hardware token"


def test_settings_validation(factor_class: type[Factor]) -> None:
    assert factor_class.validate_settings({}) == {"look_ahead": 10}
    assert factor_class.validate_settings({"look_ahead": 50}) == {"look_ahead": 50}
    for bad, named in [
        ({"look_ahead": 0}, "look_ahead"),
        ({"look_ahead": 51}, "look_ahead"),
        ({"look_ahead": True}, "look_ahead"),
        ({"look_ahead": "5"}, "look_ahead"),
        ({"window": 1}, "window"),
    ]:
        with pytest.raises(FactorConfigError, match=named):
            factor_class.validate_settings(bad)


def test_enroll_challenge_verify(factor_class: type[Factor]) -> None:
    async def scenario() -> None:
        factor: Any = make_factor(factor_class, {"look_ahead": 5})
        assert isinstance(factor.context, FakeContext)

        enrollment = await factor.begin_enrollment(ALICE)
        assert enrollment.authenticator_id.startswith("hotp|dev_")
        key = enrollment.secret
        assert key and re.fullmatch(r"[A-Z2-7]{32}", key)
        assert enrollment.uri.startswith("otpauth://hotp/Example%20Service:alice@example.com?")
        assert f"secret={key}" in enrollment.uri and "counter=0" in enrollment.uri
        assert await factor.list_authenticators(ALICE) == []  # pending rows are not usable

        # Wrong answers are refused and the enrollment stays pending.
        for wrong in ("", "12345", "abcdef", "１２３４５６", wrong_code(key, 0, 5)):
            verdict = await factor.confirm_enrollment(ALICE, enrollment.authenticator_id, wrong)
            assert not verdict.accepted and verdict.message == "The code is invalid."
        with pytest.raises(EnrollmentError):  # not Bob's enrollment
            await factor.confirm_enrollment(BOB, enrollment.authenticator_id, code_at(key, 0))
        accepted = await factor.confirm_enrollment(
            ALICE, enrollment.authenticator_id, f" {code_at(key, 0)} "
        )
        assert accepted.accepted and accepted.new_secret is None
        with pytest.raises(EnrollmentError):  # confirmed once only
            await factor.confirm_enrollment(ALICE, enrollment.authenticator_id, code_at(key, 1))

        (auth,) = await factor.list_authenticators(ALICE)
        assert auth.id == enrollment.authenticator_id and auth.factor_id == "hotp"
        assert auth.name == "Hardware token" and auth.authenticator_type == "otp"
        assert await factor.list_authenticators(BOB) == []
        (row,) = await factor.context.authenticators.list(ALICE.id)
        assert row.secret is not None and key not in repr(row.data)

        challenge = await factor.challenge(ALICE, auth, "txn_1")
        assert challenge.authenticator_id == auth.id
        assert challenge.input_mode == "numeric" and challenge.prompt

        assert (await factor.verify(ALICE, auth, "txn_1", code_at(key, 1))).accepted
        replay = await factor.verify(ALICE, auth, "txn_1", stale(key, 1, 2, 5))
        assert not replay.accepted and replay.message == "The code is invalid."
        assert not (await factor.verify(ALICE, auth, "txn_1", stale(key, 0, 2, 5))).accepted
        wrong = await factor.verify(ALICE, auth, "txn_1", wrong_code(key, 2, 5))
        assert not wrong.accepted and wrong.message == "The code is invalid."
        assert not (await factor.verify(BOB, auth, "txn_1", code_at(key, 2))).accepted

        # Presses that were never used: within the look-ahead (5) the token resynchronises,
        # and the skipped codes are burnt; beyond it, codes are refused.
        assert (await factor.verify(ALICE, auth, "txn_2", code_at(key, 6))).accepted
        assert not (await factor.verify(ALICE, auth, "txn_2", stale(key, 4, 7, 5))).accepted
        assert not (await factor.verify(ALICE, auth, "txn_2", stale(key, 13, 7, 5))).accepted
        assert (await factor.verify(ALICE, auth, "txn_2", code_at(key, 7))).accepted

    run(scenario())


def test_a_code_is_accepted_once_under_concurrency(factor_class: type[Factor]) -> None:
    async def scenario() -> None:
        factor: Any = make_factor(factor_class)
        enrollment = await factor.begin_enrollment(ALICE)
        key = enrollment.secret
        assert (
            await factor.confirm_enrollment(ALICE, enrollment.authenticator_id, code_at(key, 0))
        ).accepted
        auth = as_authenticator(factor, enrollment.authenticator_id)
        verdicts = await asyncio.gather(
            *[factor.verify(ALICE, auth, "txn", code_at(key, 1)) for _ in range(5)]
        )
        assert sum(v.accepted for v in verdicts) == 1

    run(scenario())


def test_a_new_enrollment_discards_the_abandoned_one(factor_class: type[Factor]) -> None:
    async def scenario() -> None:
        factor: Any = make_factor(factor_class)
        first = await factor.begin_enrollment(ALICE)
        second = await factor.begin_enrollment(ALICE)
        assert first.secret != second.secret
        with pytest.raises(EnrollmentError):
            await factor.confirm_enrollment(ALICE, first.authenticator_id, code_at(first.secret, 0))
        assert (
            await factor.confirm_enrollment(
                ALICE, second.authenticator_id, code_at(second.secret, 0)
            )
        ).accepted
        rows = await factor.context.authenticators.list(ALICE.id, confirmed_only=False)
        assert [r.id for r in rows] == [second.authenticator_id]

    run(scenario())


# -- packaging and configuration snippets ------------------------------------------------------


def test_entry_point_of_the_doc_loads_through_the_registry(
    example: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pyproject.toml snippet's entry point, resolved by provider's own discovery."""
    pyprojects = [tomllib.loads(b) for b in blocks("toml") if "[build-system]" in b]
    assert len(pyprojects) == 1
    points = pyprojects[0]["project"]["entry-points"]["provider.factors"]
    assert points == {"hotp": "provider_hotp:HotpFactor"}
    assert pyprojects[0]["tool"]["setuptools"]["packages"] == ["provider_hotp"]

    monkeypatch.setitem(sys.modules, "provider_hotp", example)
    found = discover(
        [
            EntryPoint(name=name, value=value, group="provider.factors")
            for name, value in points.items()
        ]
    )
    assert found["hotp"][0] is example.HotpFactor


def test_provider_toml_snippets_are_valid(factor_class: type[Factor]) -> None:
    installed = {
        "otp": (TotpFactor, "provider", "0.1.0"),
        "recovery-code": (RecoveryCodeFactor, "provider", "0.1.0"),
        "hotp": (factor_class, "provider-hotp", "0.1.0"),
    }
    configs = [tomllib.loads(b) for b in blocks("toml") if "[mfa" in b]
    assert len(configs) >= 2
    for config in configs:
        registry = build_registry(config["mfa"], installed)
        info = registry.get("hotp")
        assert info is not None and info.enabled_by_config
        assert dict(info.settings) == {"look_ahead": 20}
        if "order" in config["mfa"]:
            assert registry.ids == ["otp", "hotp", "recovery-code"]
    with pytest.raises(RegistryError, match="mfa.factors.hotp: look_ahead"):
        build_registry({"factors": {"hotp": {"enabled": True, "look_ahead": 0}}}, installed)
