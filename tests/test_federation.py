"""Sign in through an upstream OpenID provider, end to end with two real provider instances:
one is the "Google-like" upstream, the other the provider under test with a connection to it.
A verified upstream email feeds email MFA (standalone, no enrollment; codes read from a real
SMTP capture); an unverified one does not; identities are keyed by (issuer, sub)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation_flow import (
    PASSWORD,
    RP_REDIRECT,
    add_connection,
    federated_sign_in,
    open_sites,
    upstream_client,
    upstream_user,
)
from tests.mail.smtp_capture import SmtpCapture
from tests.mfa_flow import exchange_code, submit
from tests.oidc import decode_verified
from tests.servers import ProviderServer, dispose, free_port, new_server

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


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture(free_port()).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    server = new_server(tmp_path_factory.mktemp("upstream") / "data")
    server.start()
    yield server
    dispose(server)


@pytest.fixture(scope="module")
def downstream(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCapture, upstream: ProviderServer
) -> Iterator[ProviderServer]:
    tmp: Path = tmp_path_factory.mktemp("downstream")
    config = tmp / "provider.toml"
    config.write_text("[mfa.factors.email]\nenabled = true\nstandalone = true\n")
    server = new_server(
        tmp / "data",
        PROVIDER_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}?tls=none",
        PROVIDER_CONFIG=str(config),
    )
    client = upstream_client(upstream, server, "--first-party")
    # "google": the Google preset pointed at the test upstream (trusts email_verified).
    add_connection(
        server, upstream, client, "google", "--preset", "google", "--display-name", "Googlish"
    )
    add_connection(server, upstream, client, "linking", "--trust-email-verified", "--allow-linking")
    add_connection(server, upstream, client, "untrusted", "--display-name", "Untrusted")
    server.start()
    server.cli("mfa", "policy", "always")
    yield server
    dispose(server)


@pytest.fixture(scope="module")
def rp(downstream: ProviderServer) -> str:
    return downstream.cli_json(
        "clients", "create", "--name", "rp", "--public", "--first-party",
        "--redirect-uri", RP_REDIRECT,
    )["client_id"]  # fmt: skip


def _show(server: ProviderServer, email: str) -> dict:
    return server.cli_json("users", "show", email)


def test_verified_upstream_email_completes_email_mfa_without_enrollment(
    downstream: ProviderServer, upstream: ProviderServer, rp: str, smtp: SmtpCapture
) -> None:
    upstream_user(upstream, "vera@example.com", verified=True)
    sites = open_sites(downstream, upstream)
    try:
        page = federated_sign_in(sites, rp, "google", "vera@example.com")
        assert "We sent a 6-digit code" in page.text, page.text[:500]
        code = _wait_code(smtp, "vera@example.com", 1)
        final = submit(sites.down, page, "/mfa/verify", code=code)
        assert final.status_code == 302 and final.headers["location"].startswith(RP_REDIRECT)
        tokens = exchange_code(
            downstream.base_url, final.headers["location"], rp, RP_REDIRECT, sites.verifier
        )
    finally:
        sites.close()
    _, claims = decode_verified(tokens["id_token"], downstream.base_url)
    local = _show(downstream, "vera@example.com")
    upstream_sub = _show(upstream, "vera@example.com")["user_id"]
    assert claims["sub"] == local["user_id"] != upstream_sub  # provider's own id
    assert claims["iss"] == downstream.issuer
    assert {"fed", "mfa", "email"} <= set(claims["amr"])
    assert "pwd" not in claims["amr"]
    assert claims["email"] == "vera@example.com" and claims["email_verified"] is True
    [identity] = local["identities"]
    assert identity["issuer"] == upstream.issuer and identity["subject"] == upstream_sub
    assert identity["linked_how"] == "created" and identity["email_verified"] is True


def test_login_page_offers_one_button_per_connection(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    from tests.federation_flow import login_page

    sites = open_sites(downstream, upstream)
    try:
        page = login_page(sites, rp)
    finally:
        sites.close()
    assert "Continue with Googlish" in page.text and "Continue with Untrusted" in page.text
    assert page.text.count('action="/login/connection"') == 3


def test_unverified_upstream_email_is_not_offered(
    downstream: ProviderServer, upstream: ProviderServer, rp: str, smtp: SmtpCapture
) -> None:
    """email_verified=false upstream: no email MFA; the user is led to enroll another factor."""
    upstream_user(upstream, "uma@example.com", verified=False)
    sites = open_sites(downstream, upstream)
    try:
        page = federated_sign_in(sites, rp, "google", "uma@example.com")
    finally:
        sites.close()
    assert "Secure your account" in page.text and "We sent" not in page.text
    assert not _codes_for(smtp, "uma@example.com")
    local = _show(downstream, "uma@example.com")
    assert local["email_verified"] is False
    assert local["identities"][0]["email_verified"] is False


def test_untrusted_connection_ignores_email_verified(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    upstream_user(upstream, "tom@example.com", verified=True)
    sites = open_sites(downstream, upstream)
    try:
        page = federated_sign_in(sites, rp, "untrusted", "tom@example.com")
    finally:
        sites.close()
    assert "Secure your account" in page.text
    local = _show(downstream, "tom@example.com")
    assert local["email_verified"] is False  # not trusted: not verified locally
    assert local["identities"][0]["email_verified"] is True  # as the upstream sent it


def _sign_in_page(downstream: ProviderServer, upstream: ProviderServer, rp: str, **kw: str):  # type: ignore[no-untyped-def]
    sites = open_sites(downstream, upstream)
    try:
        return federated_sign_in(sites, rp, kw.get("connection", "google"), kw["email"])
    finally:
        sites.close()


def test_relogin_updates_email_verified(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    email = "rita@example.com"
    upstream_user(upstream, email, verified=False)
    first = _sign_in_page(downstream, upstream, rp, email=email)
    assert "Secure your account" in first.text
    assert _show(downstream, email)["email_verified"] is False

    upstream.cli("users", "verify-email", "--email", email, "--set")
    second = _sign_in_page(downstream, upstream, rp, email=email)
    assert "We sent a 6-digit code" in second.text  # now verified: email MFA, no enrollment
    assert _show(downstream, email)["email_verified"] is True

    upstream.cli("users", "verify-email", "--email", email, "--unset")
    third = _sign_in_page(downstream, upstream, rp, email=email)
    assert "Secure your account" in third.text
    shown = _show(downstream, email)
    assert shown["email_verified"] is False and len(shown["identities"]) == 1


def test_linking_needs_verified_emails_and_the_operator(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    email = "lou@example.com"
    downstream.cli_json(
        "users", "create", "--email", email, "--password", PASSWORD, "--email-verified"
    )
    upstream_user(upstream, email, verified=False)
    # Unverified upstream email: refused even where linking is allowed.
    refused = _sign_in_page(downstream, upstream, rp, email=email, connection="linking")
    assert refused.status_code == 403 and "already exists" in refused.text
    assert 'href="/login?tx=' in refused.text  # a way back
    assert _show(downstream, email)["identities"] == []

    upstream.cli("users", "verify-email", "--email", email, "--set")
    # Verified, but this connection does not allow linking.
    refused = _sign_in_page(downstream, upstream, rp, email=email, connection="google")
    assert refused.status_code == 403 and _show(downstream, email)["identities"] == []

    linked = _sign_in_page(downstream, upstream, rp, email=email, connection="linking")
    assert "We sent a 6-digit code" in linked.text
    shown = _show(downstream, email)
    [identity] = shown["identities"]
    assert identity["linked_how"] == "verified_email" and identity["linked_at"] > 0
    assert identity["subject"] == _show(upstream, email)["user_id"]
    # Keyed by (issuer, sub): the other connection to the same issuer now signs in as well.
    again = _sign_in_page(downstream, upstream, rp, email=email, connection="google")
    assert "We sent a 6-digit code" in again.text


def test_no_link_to_an_unverified_local_email(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    email = "nell@example.com"
    downstream.cli_json("users", "create", "--email", email, "--password", PASSWORD)
    upstream_user(upstream, email, verified=True)
    refused = _sign_in_page(downstream, upstream, rp, email=email, connection="linking")
    assert refused.status_code == 403 and _show(downstream, email)["identities"] == []


def test_upstream_email_change(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    """A new upstream email is copied over; one that belongs to another local account is
    not: the user keeps the old address, now unverified."""
    upstream_user(upstream, "cara@example.com", verified=True)
    _sign_in_page(downstream, upstream, rp, email="cara@example.com")
    user_id = _show(downstream, "cara@example.com")["user_id"]

    upstream.cli("users", "set-email", "--email", "cara@example.com", "--new", "cara2@example.com")
    upstream.cli("users", "verify-email", "--email", "cara2@example.com", "--set")
    _sign_in_page(downstream, upstream, rp, email="cara2@example.com")
    moved = _show(downstream, user_id)
    assert moved["email"] == "cara2@example.com" and moved["email_verified"] is True

    downstream.cli_json("users", "create", "--email", "dora@example.com", "--password", PASSWORD)
    upstream.cli("users", "set-email", "--email", "cara2@example.com", "--new", "dora@example.com")
    upstream.cli("users", "verify-email", "--email", "dora@example.com", "--set")
    page = _sign_in_page(downstream, upstream, rp, email="dora@example.com")
    assert "Secure your account" in page.text  # no verified email to send codes to
    kept = _show(downstream, user_id)
    assert kept["email"] == "cara2@example.com" and kept["email_verified"] is False
    assert kept["identities"][0]["email"] == "dora@example.com"
    assert _show(downstream, "dora@example.com")["identities"] == []


def test_upstream_mfa_does_not_satisfy_provider_mfa(
    downstream: ProviderServer, upstream: ProviderServer, rp: str, smtp: SmtpCapture
) -> None:
    """The upstream did its own MFA (its ID token says amr mfa/otp): provider still runs its
    policy, and its tokens record "fed" and provider's own factor, not the upstream's."""
    from tests.federation_flow import at_upstream, continue_with, login_page
    from tests.mfa_flow import SECRET, current_totp

    client = upstream_client(upstream, downstream, "--first-party", "--mfa-policy", "always")
    add_connection(downstream, upstream, client, "strict", "--trust-email-verified")
    email = "mia@example.com"
    upstream_user(upstream, email, verified=True)
    sites = open_sites(downstream, upstream)
    try:
        started = continue_with(sites, login_page(sites, rp), "strict")
        page = at_upstream(sites, started.headers["location"], email)
        assert "Secure your account" in page.text  # the upstream's own MFA enrollment
        page = submit(sites.up, page, "/mfa/enroll", factor="otp")
        secret = SECRET.search(page.text).group(1)
        page = submit(sites.up, page, "/mfa/enroll/confirm", code=current_totp(secret))
        answer = submit(sites.up, page, "/mfa/continue")
        assert answer.status_code == 302, answer.text[:300]
        page = sites.down.follow_local(sites.down.get(answer.headers["location"]))
        assert "We sent a 6-digit code" in page.text  # provider's own MFA still asked
        final = submit(sites.down, page, "/mfa/verify", code=_wait_code(smtp, email, 1))
        tokens = exchange_code(
            downstream.base_url, final.headers["location"], rp, RP_REDIRECT, sites.verifier
        )
    finally:
        sites.close()
    _, claims = decode_verified(tokens["id_token"], downstream.base_url)
    assert set(claims["amr"]) == {"fed", "mfa", "email"}
