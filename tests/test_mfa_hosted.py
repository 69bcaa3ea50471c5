"""The MFA chain through the hosted pages: TOTP enrollment, recovery codes, Try another method,
policy and step-up, with ID tokens recording what happened."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.mfa_flow import RECOVERY, SECRET, current_totp, exchange_code, start_login, submit
from tests.oidc import decode_verified, hidden_fields
from tests.servers import ProviderServer, dispose, new_server

MFA_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
REDIRECT = "https://rp.example/cb"


@pytest.fixture(scope="module")
def mfa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    server = new_server(tmp_path_factory.mktemp("mfa"))
    server.start()
    server.cli("mfa", "policy", "always")
    yield server
    dispose(server)


def _client(server: ProviderServer, *extra: str) -> str:
    return server.cli_json(
        "clients",
        "create",
        "--name",
        "rp",
        "--public",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        *extra,
    )["client_id"]


def _user(server: ProviderServer, email: str) -> None:
    server.cli_json(
        "users", "create", "--email", email, "--password", "password-123", "--email-verified"
    )


def _enroll_totp(server: ProviderServer, client_id: str, email: str) -> tuple[str, str, dict]:
    """Sign in for the first time: enroll TOTP, see the recovery code; returns (secret,
    recovery code, token response)."""
    started = start_login(server.base_url, client_id, REDIRECT, email, "password-123")
    page = started.response
    assert "Secure your account" in page.text
    page = submit(started.browser, page, "/mfa/enroll", factor="otp")
    secret = SECRET.search(page.text).group(1)
    assert 'src="data:image/svg+xml;base64,' in page.text  # the QR code
    page = submit(started.browser, page, "/mfa/enroll/confirm", code=current_totp(secret))
    assert "Save your recovery code" in page.text
    recovery = RECOVERY.search(page.text).group(1)
    final = submit(started.browser, page, "/mfa/continue")
    assert final.status_code == 302 and final.headers["location"].startswith(REDIRECT)
    tokens = exchange_code(
        server.base_url, final.headers["location"], client_id, REDIRECT, started.verifier
    )
    return secret, recovery, tokens


def test_enrollment_then_totp_then_recovery_code(mfa_server: ProviderServer) -> None:
    """Password → TOTP enrollment (code from the shown secret) → recovery code shown → next
    login challenged for TOTP → Try another method → recovery code → tokens, with amr/acr."""
    client_id = _client(mfa_server)
    _user(mfa_server, "alice@example.com")
    secret, recovery, tokens = _enroll_totp(mfa_server, client_id, "alice@example.com")
    _, claims = decode_verified(tokens["id_token"], mfa_server.base_url)
    assert set(claims["amr"]) == {"pwd", "mfa", "otp"}
    assert claims["acr"] == MFA_ACR

    # Next sign-in: challenged for TOTP first; pick the recovery code instead.
    started = start_login(
        mfa_server.base_url, client_id, REDIRECT, "alice@example.com", "password-123"
    )
    page = started.response
    assert "authenticator app" in page.text and "Try another method" in page.text
    methods = started.browser.get(page.text.split('href="')[-1].split('"')[0].replace("&amp;", "&"))
    assert "Recovery code" in methods.text and "Authenticator app" in methods.text
    rc_id = (
        [
            line
            for line in methods.text.split("\n")
            if 'name="authenticator_id"' in line and "recovery-code|" in line
        ][0]
        .split('value="')[1]
        .split('"')[0]
    )
    page = submit(started.browser, methods, "/mfa/select", authenticator_id=rc_id)
    assert "Enter your recovery code." in page.text
    page = submit(started.browser, page, "/mfa/verify", code=recovery.lower())
    assert "Save your recovery code" in page.text
    fresh = RECOVERY.search(page.text).group(1)
    assert fresh != recovery
    final = submit(started.browser, page, "/mfa/continue")
    tokens = exchange_code(
        mfa_server.base_url, final.headers["location"], client_id, REDIRECT, started.verifier
    )
    _, claims = decode_verified(tokens["id_token"], mfa_server.base_url)
    assert "mfa" in claims["amr"] and claims["acr"] == MFA_ACR

    # The used recovery code is spent; TOTP works (once per time step).
    started = start_login(
        mfa_server.base_url, client_id, REDIRECT, "alice@example.com", "password-123"
    )
    code = current_totp(secret, time.time() + 30)  # the next step: not used at enrollment
    final = submit(started.browser, started.response, "/mfa/verify", code=code)
    assert final.status_code == 302 and "code=" in final.headers["location"]


def test_totp_replay_and_wrong_codes_are_refused(mfa_server: ProviderServer) -> None:
    """A TOTP code accepted once is refused again; wrong codes get a clear message."""
    client_id = _client(mfa_server)
    _user(mfa_server, "bob@example.com")
    secret, _, _ = _enroll_totp(mfa_server, client_id, "bob@example.com")
    started = start_login(
        mfa_server.base_url, client_id, REDIRECT, "bob@example.com", "password-123"
    )
    wrong = submit(started.browser, started.response, "/mfa/verify", code="000000")
    assert wrong.status_code == 401 and "invalid" in wrong.text
    replay = submit(started.browser, wrong, "/mfa/verify", code=current_totp(secret))
    assert replay.status_code == 401 and "already used" in replay.text


def test_policy_never_skips_mfa_and_step_up_forces_it(mfa_server: ProviderServer) -> None:
    """A client whose policy is never skips MFA; acr_values asking for multi-factor forces it."""
    client_id = _client(mfa_server, "--mfa-policy", "never")
    _user(mfa_server, "carol@example.com")
    started = start_login(
        mfa_server.base_url, client_id, REDIRECT, "carol@example.com", "password-123"
    )
    assert started.response.status_code == 302
    tokens = exchange_code(
        mfa_server.base_url,
        started.response.headers["location"],
        client_id,
        REDIRECT,
        started.verifier,
    )
    _, claims = decode_verified(tokens["id_token"], mfa_server.base_url)
    assert claims["amr"] == ["pwd"] and "acr" not in claims

    stepped = start_login(
        mfa_server.base_url,
        client_id,
        REDIRECT,
        "carol@example.com",
        "password-123",
        acr_values=MFA_ACR,
    )
    assert "Secure your account" in stepped.response.text


def test_tampered_and_foreign_transactions_are_refused(mfa_server: ProviderServer) -> None:
    """An MFA page with a made-up transaction, or another browser's, shows an expiry page."""
    client_id = _client(mfa_server)
    _user(mfa_server, "dave@example.com")
    started = start_login(
        mfa_server.base_url, client_id, REDIRECT, "dave@example.com", "password-123"
    )
    url = str(started.response.request.url)
    assert "/mfa/enroll?t=" in url
    from tests.oidc import BrowserClient

    stranger = BrowserClient(mfa_server.base_url)
    assert "expired" in stranger.get(url.split(mfa_server.base_url)[1]).text
    assert "expired" in started.browser.get("/mfa?t=made-up").text


def test_account_page_regenerates_the_recovery_code(mfa_server: ProviderServer) -> None:
    """From the account page a user who passed MFA gets a new recovery code; the old one stops
    working and the new one works."""
    client_id = _client(mfa_server)
    _user(mfa_server, "erin@example.com")
    secret, old_code, _ = _enroll_totp(mfa_server, client_id, "erin@example.com")
    started = start_login(
        mfa_server.base_url, client_id, REDIRECT, "erin@example.com", "password-123"
    )
    submit(
        started.browser,
        started.response,
        "/mfa/verify",
        code=current_totp(secret, time.time() + 30),
    )
    account = started.browser.get("/account")
    assert "Authenticator app" in account.text
    form = account.text.split('action="/account/recovery-code"')[1].split("</form>")[0]
    page = started.browser.post("/account/recovery-code", data=hidden_fields(form))
    new_code = RECOVERY.search(page.text).group(1)
    assert new_code != old_code

    def _try_recovery(code: str) -> int:
        attempt = start_login(
            mfa_server.base_url, client_id, REDIRECT, "erin@example.com", "password-123"
        )
        methods = attempt.browser.get(f"/mfa/methods?t={attempt.response.url.params['t']}")
        rc_id = methods.text.split('value="recovery-code|')[1].split('"')[0]
        chosen = submit(
            attempt.browser, methods, "/mfa/select", authenticator_id="recovery-code|" + rc_id
        )
        return submit(attempt.browser, chosen, "/mfa/verify", code=code).status_code

    assert _try_recovery(old_code) == 401
    assert _try_recovery(new_code) == 200  # the page showing the next recovery code


def test_step_up_with_no_factor_enabled_is_an_error_for_the_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """acr_values asking for MFA when every factor is off: the client gets
    unmet_authentication_requirements (with state and iss), not a dead end for the user."""
    server = new_server(tmp_path_factory.mktemp("no-factors"))
    server.start()
    try:
        server.cli("factors", "disable", "recovery-code")
        server.cli("factors", "disable", "otp")
        client_id = _client(server)
        _user(server, "frank@example.com")
        started = start_login(
            server.base_url,
            client_id,
            REDIRECT,
            "frank@example.com",
            "password-123",
            acr_values=MFA_ACR,
        )
        assert started.response.status_code == 302
        params = dict(
            p.split("=", 1)
            for p in started.response.headers["location"].split("?", 1)[1].split("&")
        )
        assert params["error"] == "unmet_authentication_requirements"
        assert params["state"] == "st"
        assert "iss" in params
    finally:
        dispose(server)
