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
