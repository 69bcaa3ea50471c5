"""Email as an MFA factor, end to end with a real SMTP server capturing the mail: offered under
Try another method for verified addresses, resend with cooldown, stale codes refused, the
failure bucket surviving resends, and `standalone` for users with nothing but email."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugins.email_otp import mask_address
from tests.mail.smtp_capture import SmtpCapture
from tests.mfa_flow import current_totp, exchange_code, start_login, submit
from tests.oidc import BrowserClient, decode_verified, hidden_fields
from tests.servers import ProviderServer, dispose, free_port, new_server
from tests.test_mfa_hosted import REDIRECT, _client, _enroll_totp

CODE = re.compile(r"verification code for .* is: (\d{6})")


def _codes_for(capture: SmtpCapture, address: str) -> list[str]:
    found = []
    for received in capture.snapshot():
        if address in received.rcpt_tos:
            text = received.message.get_body(preferencelist=("plain",)).get_content()
            found += CODE.findall(text)
    return found


def _wait_code(capture: SmtpCapture, address: str, count: int) -> str:
    capture.wait_for(lambda _: len(_codes_for(capture, address)) >= count, timeout=30)
    return _codes_for(capture, address)[count - 1]


def _server(tmp: Path, capture_port: int, *, standalone: bool = False) -> ProviderServer:
    config = tmp / "provider.toml"
    config.write_text(
        "[mfa.factors.email]\nenabled = true\nresend_cooldown = 1\n"
        f"standalone = {'true' if standalone else 'false'}\n"
    )
    server = new_server(
        tmp / "data",
        PROVIDER_SMTP_URL=f"smtp://127.0.0.1:{capture_port}?tls=none",
        PROVIDER_CONFIG=str(config),
    )
    server.start()
    server.cli("mfa", "policy", "always")
    return server


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture(free_port()).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def email_server(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCapture
) -> Iterator[ProviderServer]:
    server = _server(tmp_path_factory.mktemp("email-mfa"), smtp.port)
    yield server
    dispose(server)


def _user(server: ProviderServer, email: str, verified: bool = True) -> None:
    args = ["users", "create", "--email", email, "--password", "password-123"]
    server.cli_json(*args, *(["--email-verified"] if verified else []))


def _pick_email(started, page):  # type: ignore[no-untyped-def]
    methods = started.browser.get(f"/mfa/methods?t={page.url.params['t']}")
    assert "Email" in methods.text
    email_id = "email|" + methods.text.split('value="email|')[1].split('"')[0]
    return submit(started.browser, methods, "/mfa/select", authenticator_id=email_id)


def test_try_another_method_email_completes_sign_in(
    email_server: ProviderServer, smtp: SmtpCapture
) -> None:
    client_id = _client(email_server)
    _user(email_server, "gina@example.com")
    _enroll_totp(email_server, client_id, "gina@example.com")
    started = start_login(
        email_server.base_url, client_id, REDIRECT, "gina@example.com", "password-123"
    )
    assert "authenticator app" in started.response.text  # TOTP first, email under the link
    page = _pick_email(started, started.response)
    assert f"We sent a 6-digit code to {mask_address('gina@example.com')}" in page.text
    assert "gina@example.com" not in page.text  # masked
    code = _wait_code(smtp, "gina@example.com", 1)
    final = submit(started.browser, page, "/mfa/verify", code=code)
    assert final.status_code == 302 and final.headers["location"].startswith(REDIRECT)
    tokens = exchange_code(
        email_server.base_url, final.headers["location"], client_id, REDIRECT, started.verifier
    )
    _, claims = decode_verified(tokens["id_token"], email_server.base_url)
    assert {"pwd", "mfa", "email"} <= set(claims["amr"])


def test_resend_has_a_cooldown_and_makes_the_old_code_stale(
    email_server: ProviderServer, smtp: SmtpCapture
) -> None:
    client_id = _client(email_server)
    _user(email_server, "hank@example.com")
    _enroll_totp(email_server, client_id, "hank@example.com")
    started = start_login(
        email_server.base_url, client_id, REDIRECT, "hank@example.com", "password-123"
    )
    page = _pick_email(started, started.response)
    first = _wait_code(smtp, "hank@example.com", 1)
    again = submit(
        started.browser,
        page,
        "/mfa/select",
        authenticator_id=page.text.split('name="authenticator_id" value="')[1].split('"')[0],
    )
    assert "sent recently" in again.text  # within the cooldown: nothing new is sent
    time.sleep(1.2)
    resent = submit(
        started.browser,
        again,
        "/mfa/select",
        authenticator_id=again.text.split('name="authenticator_id" value="')[1].split('"')[0],
    )
    second = _wait_code(smtp, "hank@example.com", 2)
    stale = submit(started.browser, resent, "/mfa/verify", code=first)
    assert stale.status_code == 401 and "invalid" in stale.text
    final = submit(started.browser, stale, "/mfa/verify", code=second)
    assert final.status_code == 302


def test_failure_bucket_survives_resends(email_server: ProviderServer, smtp: SmtpCapture) -> None:
    """Wrong codes across several resent codes drain one per-user bucket: after 10 failures
    even a fresh, right code is refused with 429."""
    client_id = _client(email_server)
    _user(email_server, "ivy@example.com")
    secret, _, _ = _enroll_totp(email_server, client_id, "ivy@example.com")
    started = start_login(
        email_server.base_url, client_id, REDIRECT, "ivy@example.com", "password-123"
    )
    page = _pick_email(started, started.response)
    failures = 0
    sent = 1
    while failures < 10:
        for _ in range(min(4, 10 - failures)):
            page = submit(started.browser, page, "/mfa/verify", code="000000")
            assert page.status_code == 401
            failures += 1
        time.sleep(1.1)
        auth_id = page.text.split('name="authenticator_id" value="')[1].split('"')[0]
        page = submit(started.browser, page, "/mfa/select", authenticator_id=auth_id)
        sent += 1
    right = _wait_code(smtp, "ivy@example.com", sent)
    refused = submit(started.browser, page, "/mfa/verify", code=right)
    assert refused.status_code == 429
    assert "Too many failed codes" in refused.text


def test_unverified_email_is_not_offered(email_server: ProviderServer) -> None:
    client_id = _client(email_server)
    _user(email_server, "jay@example.com", verified=False)
    _enroll_totp(email_server, client_id, "jay@example.com")
    started = start_login(
        email_server.base_url, client_id, REDIRECT, "jay@example.com", "password-123"
    )
    methods = started.browser.get(f"/mfa/methods?t={started.response.url.params['t']}")
    assert "Authenticator app" in methods.text and "email|" not in methods.text


def test_email_alone_needs_standalone(
    email_server: ProviderServer, smtp: SmtpCapture, tmp_path: Path
) -> None:
    """A user whose only usable factor would be email is led to enroll an independent one;
    with `standalone = true` the verified email is challenged directly, with no enrollment."""
    client_id = _client(email_server)
    _user(email_server, "kim@example.com")
    started = start_login(
        email_server.base_url, client_id, REDIRECT, "kim@example.com", "password-123"
    )
    assert "Secure your account" in started.response.text

    standalone = _server(tmp_path, smtp.port, standalone=True)
    try:
        client_id = _client(standalone)
        _user(standalone, "kim@example.com")
        started = start_login(
            standalone.base_url, client_id, REDIRECT, "kim@example.com", "password-123"
        )
        assert "We sent a 6-digit code" in started.response.text
        code = _wait_code(smtp, "kim@example.com", 1)
        final = submit(started.browser, started.response, "/mfa/verify", code=code)
        assert final.status_code == 302
    finally:
        dispose(standalone)


def test_email_needs_an_independent_factor(email_server: ProviderServer) -> None:
    """With email on, turning off the last independent factor is refused with the reason."""
    refused = email_server.cli("factors", "disable", "otp", check=False)
    assert refused.returncode != 0
    assert "email" in refused.stderr and "independent" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_smtp_down_the_page_says_delayed_and_the_code_arrives_later(tmp_path: Path) -> None:
    """SMTP refusing connections: the code page says delivery is late; when SMTP is back the
    queued code is delivered (nothing lost) and completes the sign-in."""
    port = free_port()
    server = _server(tmp_path, port)
    try:
        client_id = _client(server)
        _user(server, "lou@example.com")
        _enroll_totp(server, client_id, "lou@example.com")
        started = start_login(
            server.base_url, client_id, REDIRECT, "lou@example.com", "password-123"
        )
        page = _pick_email(started, started.response)
        deadline = time.monotonic() + 30
        while not any(m["last_error"] for m in server.cli_json("mail", "list")):
            assert time.monotonic() < deadline, "the worker never tried to deliver"
            time.sleep(0.5)
        shown = started.browser.get(str(page.url).split(server.base_url)[1])
        assert "running late" in shown.text
        capture = SmtpCapture(port).start()
        try:
            code = _wait_code(capture, "lou@example.com", 1)  # after the backoff, up to 30 s
        finally:
            capture.stop()
        final = submit(started.browser, shown, "/mfa/verify", code=code)
        assert final.status_code == 302
    finally:
        dispose(server)


def test_verifying_the_email_makes_email_mfa_available(
    email_server: ProviderServer, smtp: SmtpCapture
) -> None:
    """Unverified: no email method. After following the verification link: offered. After
    changing the address: unverified again, not offered."""
    client_id = _client(email_server)
    _user(email_server, "max@example.com", verified=False)
    _enroll_totp(email_server, client_id, "max@example.com")

    def methods_text(email: str) -> str:
        started = start_login(email_server.base_url, client_id, REDIRECT, email, "password-123")
        return started.browser.get(f"/mfa/methods?t={started.response.url.params['t']}").text

    assert "email|" not in methods_text("max@example.com")
    email_server.cli("users", "verify-email", "--email", "max@example.com", "--send")
    link = re.compile(r"http://127\.0\.0\.1:\d+/(verify-email\?token=[A-Za-z0-9._-]+)")
    capture_text = ""
    deadline = time.monotonic() + 30
    while not link.search(capture_text):
        assert time.monotonic() < deadline
        capture_text = "".join(
            r.message.get_body(preferencelist=("plain",)).get_content()
            for r in smtp.snapshot()
            if "max@example.com" in r.rcpt_tos
        )
        time.sleep(0.2)
    browser = BrowserClient(email_server.base_url)
    confirm = browser.get("/" + link.search(capture_text).group(1))
    assert "Email verified" in browser.post("/verify-email", data=hidden_fields(confirm.text)).text
    assert "email|" in methods_text("max@example.com")

    email_server.cli(
        "users", "set-email", "--email", "max@example.com", "--new", "max2@example.com"
    )
    assert "email|" not in methods_text("max2@example.com")


def test_extra_address_enrolled_from_the_account_page_and_chosen_at_sign_in(
    email_server: ProviderServer, smtp: SmtpCapture
) -> None:
    """A user who passed MFA adds a second address (confirmed with the code sent to it); the
    next sign-in lists both addresses masked, and the chosen one receives the code."""
    client_id = _client(email_server)
    _user(email_server, "nia@example.com")
    secret, _, _ = _enroll_totp(email_server, client_id, "nia@example.com")
    started = start_login(
        email_server.base_url, client_id, REDIRECT, "nia@example.com", "password-123"
    )
    submit(
        started.browser,
        started.response,
        "/mfa/verify",
        code=current_totp(secret, time.time() + 30),
    )
    account = started.browser.get("/account")
    form = account.text.split('action="/account/email-mfa"')[1].split("</form>")[0]
    page = started.browser.post(
        "/account/email-mfa", data={**hidden_fields(form), "address": "nia.work@example.org"}
    )
    assert "Enter the 6-digit code we sent" in page.text
    wrong = submit(started.browser, page, "/mfa/enroll/confirm", code="000000")
    assert wrong.status_code == 401
    code = _wait_code(smtp, "nia.work@example.org", 1)
    done = submit(started.browser, wrong, "/mfa/enroll/confirm", code=code)
    assert str(done.url).endswith("/account")

    again = start_login(
        email_server.base_url, client_id, REDIRECT, "nia@example.com", "password-123"
    )
    methods = again.browser.get(f"/mfa/methods?t={again.response.url.params['t']}")
    assert mask_address("nia@example.com") in methods.text
    assert mask_address("nia.work@example.org") in methods.text
    ids = re.findall(r'value="(email\|dev_[^"]+)"', methods.text)
    work_id = next(
        i for i in ids if mask_address("nia.work@example.org") in methods.text.split(i)[1][:400]
    )
    page = submit(again.browser, methods, "/mfa/select", authenticator_id=work_id)
    code = _wait_code(smtp, "nia.work@example.org", 2)
    assert submit(again.browser, page, "/mfa/verify", code=code).status_code == 302
