"""The factor registry (discovery, order, configuration checks) and the operator CLI for MFA:
`provider factors list|enable|disable` and `provider mfa policy|reset|recovery-code`."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from plugins.recovery_codes import RecoveryCodeFactor
from plugins.totp import TotpFactor
from provider.mfa import Factor
from provider.mfa.registry import RegistryError, build_registry, discover
from tests.mfa_flow import RECOVERY, SECRET, current_totp, start_login, submit
from tests.oidc import hidden_fields
from tests.servers import ProviderServer, dispose, free_port, new_server, public_client

REDIRECT = "https://rp.example/cb"
PASSWORD = "password-123"


def _pin_factor() -> type[Factor]:
    found = discover()
    if "example-pin" not in found:
        pytest.fail("not installed: run `.venv/bin/pip install -e tests/plugins/example_factor`")
    return found["example-pin"][0]


def _installed() -> dict[str, tuple[type[Factor], str, str]]:
    return {
        "otp": (TotpFactor, "provider", "1.0"),
        "recovery-code": (RecoveryCodeFactor, "provider", "1.0"),
        "example-pin": (_pin_factor(), "provider-example-factor", "0.1.0"),
    }


# -- build_registry ----------------------------------------------------------------------------


def test_defaults_enable_the_first_party_factors_in_order() -> None:
    """With no configuration otp and recovery-code are enabled, third-party factors are not,
    and first-party factors come first."""
    registry = build_registry({}, _installed())
    assert registry.ids == ["otp", "recovery-code", "example-pin"]
    assert [info.enabled_by_config for info in registry] == [True, True, False]
    assert registry.get("otp").settings == {"window": 1}  # type: ignore[union-attr]


def test_order_and_settings_are_applied() -> None:
    """`order` sets the preference order; a factor's table enables it and carries its
    validated settings."""
    registry = build_registry(
        {
            "order": ["example-pin", "recovery-code"],
            "factors": {"example-pin": {"enabled": True, "length": 8}, "otp": {"window": 0}},
        },
        _installed(),
    )
    assert registry.ids == ["example-pin", "recovery-code", "otp"]
    pin = registry.get("example-pin")
    assert pin is not None and pin.enabled_by_config and pin.settings == {"length": 8}
    assert pin.distribution == "provider-example-factor" and pin.version == "0.1.0"
    assert registry.get("otp").settings == {"window": 0}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"order": ["otp", "nope"]}, "mfa.order"),
        ({"factors": {"nope": {"enabled": True}}}, "mfa.factors.nope"),
        ({"order": ["otp", "recovery-code", "otp"]}, "mfa.order"),
        ({"order": "otp"}, "mfa.order"),
        ({"factors": {"otp": {"enabled": "yes"}}}, "mfa.factors.otp.enabled"),
        ({"factors": {"otp": {"window": 9}}}, "mfa.factors.otp: window"),
        ({"factors": {"otp": {"colour": "red"}}}, "mfa.factors.otp: unknown setting(s): colour"),
        ({"factors": {"example-pin": {"length": "8"}}}, "mfa.factors.example-pin: length"),
        ({"factors": {"recovery-code": {"window": 1}}}, "mfa.factors.recovery-code: unknown"),
        ({"factors": {"otp": 5}}, "mfa.factors.otp"),
        ({"factors": ["otp"]}, "mfa.factors"),
        ({"factors": {"otp": {"enabled": False}}}, "mfa.factors"),
        ({"policy": "always"}, "mfa.policy"),
        ({"orders": ["otp"]}, "mfa: unknown setting(s) orders"),
    ],
)
def test_configuration_mistakes_are_one_line_naming_the_key(
    config: dict[str, Any], named: str
) -> None:
    """Each mistake raises RegistryError with a single line that starts with the key at fault."""
    with pytest.raises(RegistryError) as caught:
        build_registry(config, _installed())
    message = str(caught.value)
    assert message.startswith(named), message
    assert "\n" not in message


def test_error_messages_name_the_culprit() -> None:
    """The messages say which id is unknown, duplicated or depends on a missing factor."""
    with pytest.raises(RegistryError, match=r"mfa\.order: .*'nope'.*installed: example-pin, otp"):
        build_registry({"order": ["nope"]}, _installed())
    with pytest.raises(RegistryError, match=r"mfa\.order: lists otp twice"):
        build_registry({"order": ["otp", "otp"]}, _installed())
    with pytest.raises(RegistryError, match=r"recovery-code .*no independent"):
        build_registry({"factors": {"otp": {"enabled": False}}}, _installed())


def test_dependent_factor_rule_is_satisfied_by_any_independent_factor() -> None:
    """recovery-code may stay enabled when otp is off if another independent factor is on;
    with every factor off the configuration is valid too."""
    registry = build_registry(
        {"factors": {"otp": {"enabled": False}, "example-pin": {"enabled": True}}}, _installed()
    )
    assert [i.id for i in registry if i.enabled_by_config] == ["recovery-code", "example-pin"]
    nothing = build_registry(
        {"factors": {"otp": {"enabled": False}, "recovery-code": {"enabled": False}}}, _installed()
    )
    assert not any(info.enabled_by_config for info in nothing)


# -- discover ----------------------------------------------------------------------------------


@dataclass
class FakeDist:
    name: str
    version: str = "1.0"


@dataclass
class FakeEntryPoint:
    """What discover() reads of an importlib.metadata.EntryPoint."""

    name: str
    dist: FakeDist | None
    target: Any

    def load(self) -> Any:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def test_discover_lists_classes_with_their_distribution() -> None:
    """Entry points become {id: (class, distribution, version)}; the same distribution seen
    twice on sys.path counts once."""
    points = [
        FakeEntryPoint("otp", FakeDist("provider", "2.0"), TotpFactor),
        FakeEntryPoint("otp", FakeDist("provider", "2.0"), TotpFactor),
        FakeEntryPoint("recovery-code", None, RecoveryCodeFactor),
    ]
    assert discover(points) == {  # type: ignore[arg-type]
        "otp": (TotpFactor, "provider", "2.0"),
        "recovery-code": (RecoveryCodeFactor, "unknown", "unknown"),
    }


def test_discover_refuses_one_id_from_two_distributions() -> None:
    """Two distributions providing the same factor id stop start-up, naming both."""
    points = [
        FakeEntryPoint("otp", FakeDist("provider"), TotpFactor),
        FakeEntryPoint("otp", FakeDist("evil-otp"), TotpFactor),
    ]
    with pytest.raises(RegistryError, match=r"'otp' is provided twice: by provider and by evil"):
        discover(points)  # type: ignore[arg-type]


class NotAFactor:
    id = "weird"


@pytest.mark.parametrize(
    ("point", "says"),
    [
        (
            FakeEntryPoint("otp", FakeDist("broken"), ImportError("no module named segno")),
            "'otp' (broken) failed to load: no module named segno",
        ),
        (FakeEntryPoint("weird", FakeDist("odd"), NotAFactor), "is not a subclass"),
        (FakeEntryPoint("totp", FakeDist("odd"), TotpFactor), "declares id 'otp'"),
    ],
)
def test_discover_refuses_unusable_plugins(point: FakeEntryPoint, says: str) -> None:
    """A plugin that fails to import, is not a Factor, or whose id differs from its entry-point
    name is refused with one line."""
    with pytest.raises(RegistryError) as caught:
        discover([point])  # type: ignore[list-item]
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_discover_finds_the_installed_factors() -> None:
    """The real entry points: both first-party factors and the example plugin."""
    found = discover()
    assert found["otp"][:2] == (TotpFactor, "provider")
    assert found["recovery-code"][:2] == (RecoveryCodeFactor, "provider")
    assert found["example-pin"][1:] == ("provider-example-factor", "0.1.0")


# -- a bad configuration stops the CLI and the server ------------------------------------------

BAD_CONFIGS = {
    "unknown-table": ("[mfa.factors.nope]\nenabled = true\n", "mfa.factors.nope"),
    "bad-setting": ("[mfa.factors.otp]\nwindow = 9\n", "mfa.factors.otp: window"),
    "bad-enabled": ('[mfa.factors.otp]\nenabled = "yes"\n', "mfa.factors.otp.enabled"),
    "not-a-table": ("[mfa.factors]\notp = 5\n", "mfa.factors.otp"),
    "unknown-in-order": ('[mfa]\norder = ["otp", "nope"]\n', "mfa.order"),
    "policy-in-file": ('[mfa]\npolicy = "always"\n', "mfa.policy"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_serve_refuses_a_bad_mfa_configuration(tmp_path: Path, case: str) -> None:
    """`provider serve` exits non-zero with one line on stderr naming the key, no traceback,
    and never starts listening."""
    text, named = BAD_CONFIGS[case]
    config = tmp_path / "provider.toml"
    config.write_text(text)
    server = new_server(tmp_path / "data", PROVIDER_CONFIG=str(config))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "provider.cli", "serve", "--port", str(free_port())],
            env=server.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        dispose(server)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_migrate_and_factor_commands_refuse_a_bad_mfa_configuration(tmp_path: Path) -> None:
    """`migrate` and `factors list` validate the [mfa] configuration as `serve` does."""
    config = tmp_path / "provider.toml"
    config.write_text("[mfa.factors.nope]\n")
    server = new_server(tmp_path / "data", PROVIDER_CONFIG=str(config))
    try:
        for args in (("migrate",), ("factors", "list"), ("factors", "enable", "otp")):
            result = server.cli(*args, check=False)
            lines = result.stderr.strip().splitlines()
            assert result.returncode != 0, args
            assert len(lines) == 1 and "mfa.factors.nope" in lines[0], (args, result.stderr)
            assert "Traceback" not in result.stderr
    finally:
        dispose(server)


# -- the CLI against a server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    instance = new_server(tmp_path_factory.mktemp("mfa-cli"))
    instance.start()
    instance.cli("mfa", "policy", "always")
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def client_id(server: ProviderServer) -> str:
    return public_client(server, REDIRECT, name="rp")


def _factor_rows(server: ProviderServer) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in server.cli_json("factors", "list")}


def _enrolled_user(server: ProviderServer, client_id: str, email: str) -> tuple[str, str]:
    """Create a user and enroll TOTP on the hosted pages; (TOTP secret, recovery code)."""
    server.cli_json("users", "create", "--email", email, "--password", PASSWORD, "--email-verified")
    started = start_login(server.base_url, client_id, REDIRECT, email, PASSWORD)
    assert "Secure your account" in started.response.text
    page = submit(started.browser, started.response, "/mfa/enroll", factor="otp")
    secret = SECRET.search(page.text).group(1)
    page = submit(started.browser, page, "/mfa/enroll/confirm", code=current_totp(secret))
    recovery = RECOVERY.search(page.text).group(1)
    final = submit(started.browser, page, "/mfa/continue")
    assert final.status_code == 302 and final.headers["location"].startswith(REDIRECT)
    return secret, recovery


def test_factors_list_shows_every_installed_factor(server: ProviderServer) -> None:
    """`factors list --json` shows each factor with its distribution, version, state and kind;
    the text form has one line per factor."""
    rows = server.cli_json("factors", "list")
    assert [row["id"] for row in rows] == ["otp", "recovery-code", "email", "example-pin"]
    by_id = {row["id"]: row for row in rows}
    email = by_id["email"]
    assert (email["enabled"], email["independent"], email["authenticator_type"]) == (
        False,
        False,
        "oob",
    )
    assert by_id["otp"] == {
        "id": "otp",
        "name": "Authenticator app",
        "distribution": "provider",
        "version": version("provider"),
        "enabled": True,
        "independent": True,
        "authenticator_type": "otp",
    }
    codes = by_id["recovery-code"]
    assert (codes["enabled"], codes["independent"]) == (True, False)
    pin = by_id["example-pin"]
    assert (pin["distribution"], pin["version"]) == ("provider-example-factor", "0.1.0")
    assert (pin["enabled"], pin["independent"], pin["name"]) == (
        False,
        True,
        "Security PIN (example plugin)",
    )

    text = server.cli("factors", "list").stdout.splitlines()
    assert len(text) == 4
    assert re.match(
        r"example-pin\s+disabled\s+independent\s+provider-example-factor 0\.1\.0", text[3]
    ), text


def test_mfa_policy_shows_and_sets(tmp_path: Path) -> None:
    """`mfa policy` shows the policy (never at first), sets never|always, refuses others."""
    fresh = new_server(tmp_path)
    try:
        assert fresh.cli("mfa", "policy").stdout.strip() == "mfa policy: never"
        assert fresh.cli("mfa", "policy", "always").stdout.strip() == "mfa policy: always"
        assert fresh.cli("mfa", "policy").stdout.strip() == "mfa policy: always"
        refused = fresh.cli("mfa", "policy", "sometimes", check=False)
        assert refused.returncode != 0 and "sometimes" in refused.stderr
        assert fresh.cli("mfa", "policy").stdout.strip() == "mfa policy: always"
        assert fresh.cli("mfa", "policy", "never").stdout.strip() == "mfa policy: never"
    finally:
        dispose(fresh)


def test_toggles_keep_the_dependent_factor_rule_and_apply_at_once(tmp_path: Path) -> None:
    """Disabling the last independent factor while recovery-code is on is refused (saying
    why), as is enabling recovery-code with no independent factor; allowed toggles take effect
    on the running server without a restart."""
    running = new_server(tmp_path)
    running.start()
    try:
        running.cli("mfa", "policy", "always")
        rp = public_client(running, REDIRECT, name="rp")

        refused = running.cli("factors", "disable", "otp", check=False)
        assert refused.returncode != 0
        assert "otp is the last independent factor and recovery-code depends on it" in (
            refused.stderr
        )
        assert _factor_rows(running)["otp"]["enabled"] is True

        # With the PIN enabled (independent too), otp may go.
        enabled = running.cli("factors", "enable", "example-pin").stdout.strip()
        assert enabled == "example-pin enabled"
        assert running.cli("factors", "disable", "otp").stdout.strip() == "otp disabled"
        running.cli_json(
            "users",
            "create",
            "--email",
            "toggle@example.com",
            "--password",
            PASSWORD,
            "--email-verified",
        )
        started = start_login(running.base_url, rp, REDIRECT, "toggle@example.com", PASSWORD)
        assert "Security PIN (example plugin)" in started.response.text
        assert "Authenticator app" not in started.response.text
        refused_otp = submit(started.browser, started.response, "/mfa/enroll", factor="otp")
        assert refused_otp.status_code == 400 and "Cannot set up this method" in refused_otp.text

        refused = running.cli("factors", "disable", "example-pin", check=False)
        assert refused.returncode != 0 and "recovery-code depends on it" in refused.stderr

        assert running.cli("factors", "disable", "recovery-code").returncode == 0
        assert running.cli("factors", "disable", "example-pin").returncode == 0
        assert not any(row["enabled"] for row in _factor_rows(running).values())
        refused = running.cli("factors", "enable", "recovery-code", check=False)
        assert refused.returncode != 0
        assert "only be enabled while an independent factor" in refused.stderr
        no_code = running.cli("mfa", "recovery-code", "--email", "toggle@example.com", check=False)
        assert no_code.returncode != 0 and "recovery-code factor is not enabled" in no_code.stderr

        # No factor enabled: the policy requires nothing, sign-in goes straight through.
        started = start_login(running.base_url, rp, REDIRECT, "toggle@example.com", PASSWORD)
        assert started.response.status_code == 302

        unknown = running.cli("factors", "enable", "nope", check=False)
        assert unknown.returncode != 0 and "nope" in unknown.stderr
        running.cli("factors", "enable", "otp")
        running.cli("factors", "enable", "recovery-code")
        rows = _factor_rows(running)
        assert [rows[i]["enabled"] for i in ("otp", "recovery-code", "example-pin")] == [
            True,
            True,
            False,
        ]
    finally:
        dispose(running)


def test_mfa_reset_leads_to_enrollment_again(server: ProviderServer, client_id: str) -> None:
    """After `mfa reset --email` the user's next sign-in asks them to enroll, even if they
    had exhausted their failure bucket; unknown emails are refused."""
    _enrolled_user(server, client_id, "lost@example.com")
    started = start_login(server.base_url, client_id, REDIRECT, "lost@example.com", PASSWORD)
    page = started.response
    for attempt in range(10):  # 10 failures: 5 per challenge, so two challenges
        if attempt == 5:
            tx = hidden_fields(page.text)["t"]
            methods = started.browser.get(f"/mfa/methods?t={tx}")
            otp_id = re.search(r'name="authenticator_id" value="(totp\|[^"]*)"', methods.text)
            page = submit(started.browser, methods, "/mfa/select", authenticator_id=otp_id.group(1))
        page = submit(started.browser, page, "/mfa/verify", code="000000")
        assert page.status_code == 401
    assert submit(started.browser, page, "/mfa/verify", code="000000").status_code == 429

    reset = server.cli("mfa", "reset", "--email", "lost@example.com")
    assert reset.stdout.strip() == "MFA reset for lost@example.com"
    again = start_login(server.base_url, client_id, REDIRECT, "lost@example.com", PASSWORD)
    assert "Secure your account" in again.response.text
    page = submit(again.browser, again.response, "/mfa/enroll", factor="otp")
    secret = SECRET.search(page.text).group(1)
    page = submit(again.browser, page, "/mfa/enroll/confirm", code=current_totp(secret))
    assert "Save your recovery code" in page.text, page.text[-500:]

    missing = server.cli("mfa", "reset", "--email", "nobody@example.com", check=False)
    assert missing.returncode != 0 and "no user with email nobody@example.com" in missing.stderr


def test_mfa_recovery_code_replaces_the_old_one(server: ProviderServer, client_id: str) -> None:
    """`mfa recovery-code --email` prints one new code: it works on the hosted pages and the
    code shown at enrollment no longer does."""
    _, old = _enrolled_user(server, client_id, "forgetful@example.com")
    printed = server.cli("mfa", "recovery-code", "--email", "forgetful@example.com").stdout
    (new,) = printed.split()
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", new) and new != old

    started = start_login(server.base_url, client_id, REDIRECT, "forgetful@example.com", PASSWORD)
    tx = hidden_fields(started.response.text)["t"]
    methods = started.browser.get(f"/mfa/methods?t={tx}")
    rc_id = re.search(r'name="authenticator_id" value="(recovery-code\|[^"]*)"', methods.text)
    page = submit(started.browser, methods, "/mfa/select", authenticator_id=rc_id.group(1))
    assert "Enter your recovery code." in page.text
    refused = submit(started.browser, page, "/mfa/verify", code=old)
    assert refused.status_code == 401 and "The recovery code is invalid." in refused.text
    page = submit(started.browser, refused, "/mfa/verify", code=new)
    assert "Save your recovery code" in page.text
    final = submit(started.browser, page, "/mfa/continue")
    assert final.status_code == 302 and final.headers["location"].startswith(REDIRECT)

    missing = server.cli("mfa", "recovery-code", "--email", "nobody@example.com", check=False)
    assert missing.returncode != 0 and "no user with email" in missing.stderr
