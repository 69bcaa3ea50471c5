"""A pip-installed third-party factor (tests/plugins/example_factor, distribution
"provider-example-factor", factor id "example-pin") works end to end on a real server
configured only through provider.toml: no change to core code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mfa_flow import RECOVERY, exchange_code, start_login, submit
from tests.oidc import decode_verified
from tests.servers import ProviderServer, dispose, new_server, public_client

REDIRECT = "https://rp.example/cb"
PASSWORD = "password-123"
PIN = "20240917"
PIN_LABEL = "Security PIN (example plugin)"
CONFIG = """\
[mfa]
order = ["example-pin", "otp", "recovery-code"]

[mfa.factors.example-pin]
enabled = true
length = 8
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    directory = tmp_path_factory.mktemp("third-party")
    config = directory / "provider.toml"
    config.write_text(CONFIG)
    instance = new_server(directory / "data", PROVIDER_CONFIG=str(config))
    instance.start()
    instance.cli("mfa", "policy", "always")
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def client_id(server: ProviderServer) -> str:
    return public_client(server, REDIRECT, name="rp")


def _user(server: ProviderServer, email: str) -> None:
    server.cli_json("users", "create", "--email", email, "--password", PASSWORD, "--email-verified")


def test_factors_list_shows_the_plugin_enabled_first(server: ProviderServer) -> None:
    """`factors list` shows example-pin from its own distribution, enabled by the config and
    first in the configured order."""
    rows = server.cli_json("factors", "list")
    assert [row["id"] for row in rows] == ["example-pin", "otp", "recovery-code", "email"]
    pin = rows[0]
    assert pin == {
        "id": "example-pin",
        "name": PIN_LABEL,
        "distribution": "provider-example-factor",
        "version": "0.1.0",
        "enabled": True,
        "independent": True,
        "authenticator_type": "otp",
    }
    first = server.cli("factors", "list").stdout.splitlines()[0]
    assert re.match(
        r"example-pin\s+enabled\s+independent\s+provider-example-factor 0\.1\.0$", first
    ), first


def test_enroll_with_a_pin_then_sign_in_with_it(server: ProviderServer, client_id: str) -> None:
    """A new user is offered the PIN first; a 6-digit PIN is refused with a clear message, an
    8-digit one is accepted; the next sign-in is challenged for the PIN, a wrong PIN is refused
    and the right one yields an ID token whose amr has "pin" and "mfa"."""
    _user(server, "pin@example.com")
    started = start_login(server.base_url, client_id, REDIRECT, "pin@example.com", PASSWORD)
    page = started.response
    assert "Secure your account" in page.text
    offered = re.findall(r'name="factor" value="([^"]+)"', page.text)
    assert offered == ["example-pin", "otp"]  # configured order; recovery-code is not enrollable
    assert PIN_LABEL in page.text

    page = submit(started.browser, page, "/mfa/enroll", factor="example-pin")
    assert page.status_code == 200
    assert "Choose a PIN of 8 digits and enter it below." in page.text
    assert 'id="secret"' not in page.text and 'class="qr"' not in page.text

    short = submit(started.browser, page, "/mfa/enroll/confirm", code="123456")
    assert short.status_code == 401
    assert "Your PIN must be exactly 8 digits." in short.text
    page = submit(started.browser, short, "/mfa/enroll/confirm", code=PIN)
    assert "Save your recovery code" in page.text
    assert RECOVERY.search(page.text)
    final = submit(started.browser, page, "/mfa/continue")
    assert final.status_code == 302 and final.headers["location"].startswith(REDIRECT)
    tokens = exchange_code(
        server.base_url, final.headers["location"], client_id, REDIRECT, started.verifier
    )
    _, claims = decode_verified(tokens["id_token"], server.base_url)
    assert {"pwd", "mfa", "pin"} <= set(claims["amr"])

    # The next sign-in is challenged for the PIN.
    started = start_login(server.base_url, client_id, REDIRECT, "pin@example.com", PASSWORD)
    page = started.response
    assert page.status_code == 200 and 'action="/mfa/verify"' in page.text
    assert "Enter your 8-digit security PIN." in page.text
    assert '<label for="code">PIN</label>' in page.text
    wrong = submit(started.browser, page, "/mfa/verify", code="87654321")
    assert wrong.status_code == 401 and "The PIN is invalid." in wrong.text
    final = submit(started.browser, wrong, "/mfa/verify", code=PIN)
    assert final.status_code == 302 and final.headers["location"].startswith(REDIRECT)
    tokens = exchange_code(
        server.base_url, final.headers["location"], client_id, REDIRECT, started.verifier
    )
    _, claims = decode_verified(tokens["id_token"], server.base_url)
    assert "pin" in claims["amr"] and "mfa" in claims["amr"]
    assert "otp" not in claims["amr"]
    assert claims["acr"] == "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def test_pins_are_per_user(server: ProviderServer, client_id: str) -> None:
    """Another user's PIN does not open an account (the stored hash is bound to the user)."""
    for email, pin in (("pin-a@example.com", "11112222"), ("pin-b@example.com", "33334444")):
        _user(server, email)
        started = start_login(server.base_url, client_id, REDIRECT, email, PASSWORD)
        page = submit(started.browser, started.response, "/mfa/enroll", factor="example-pin")
        page = submit(started.browser, page, "/mfa/enroll/confirm", code=pin)
        assert "Save your recovery code" in page.text
    started = start_login(server.base_url, client_id, REDIRECT, "pin-b@example.com", PASSWORD)
    refused = submit(started.browser, started.response, "/mfa/verify", code="11112222")
    assert refused.status_code == 401 and "The PIN is invalid." in refused.text


def test_plugin_settings_are_validated_at_start_up(tmp_path: Path) -> None:
    """The plugin's own validate_settings runs at start-up: a bad `length` stops the CLI with
    one line naming mfa.factors.example-pin."""
    config = tmp_path / "provider.toml"
    config.write_text(CONFIG.replace("length = 8", "length = 4"))
    bad = new_server(tmp_path / "data", PROVIDER_CONFIG=str(config))
    try:
        result = bad.cli("migrate", check=False)
    finally:
        dispose(bad)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "provider: error: mfa.factors.example-pin: length: must be an integer from 6 to 12"
    )
