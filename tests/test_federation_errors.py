"""Failures of sign-in through an upstream end on a clear page with a way back to the sign-in
page — never a 500, never a redirect off-site: a tampered or replayed state, a callback in
another browser, upstream error responses, a user cancelling, an upstream that is down or
whose discovery names another issuer, and an ID token whose nonce is not ours."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.federation_flow import (
    RP_REDIRECT,
    add_connection,
    at_upstream,
    continue_with,
    login_page,
    open_sites,
    upstream_client,
    upstream_round_trip,
    upstream_user,
)
from tests.oidc import BrowserClient
from tests.servers import ProviderServer, dispose, free_port, new_server

EMAIL = "erin@example.com"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    server = new_server(tmp_path_factory.mktemp("upstream-errors"))
    server.start()
    upstream_user(server, EMAIL, verified=True)
    yield server
    dispose(server)


@pytest.fixture(scope="module")
def downstream(
    tmp_path_factory: pytest.TempPathFactory, upstream: ProviderServer
) -> Iterator[ProviderServer]:
    server = new_server(tmp_path_factory.mktemp("downstream-errors"))
    first_party = upstream_client(upstream, server, "--first-party")
    third_party = upstream_client(upstream, server)  # the upstream asks for consent
    add_connection(server, upstream, first_party, "up", "--trust-email-verified")
    add_connection(server, upstream, third_party, "consent")
    dead = {"client_id": "x", "client_secret": "y"}
    server.cli_json(
        "connections", "create", "--name", "down", "--issuer",
        f"http://127.0.0.1:{free_port()}/", "--client-id", "x", "--client-secret", "y",
    )  # fmt: skip
    # The upstream's discovery says "http://127.0.0.1:port/"; this one lacks the slash.
    server.cli_json(
        "connections", "create", "--name", "mismatch", "--issuer", upstream.issuer.rstrip("/"),
        "--client-id", dead["client_id"], "--client-secret", dead["client_secret"],
    )  # fmt: skip
    server.start()
    yield server
    dispose(server)


@pytest.fixture(scope="module")
def rp(downstream: ProviderServer) -> str:
    return downstream.cli_json(
        "clients", "create", "--name", "rp", "--public", "--first-party",
        "--redirect-uri", RP_REDIRECT,
    )["client_id"]  # fmt: skip


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def _local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _assert_failure_page(page: httpx.Response, status: int, words: str) -> None:
    assert page.status_code == status, (page.status_code, page.text[:500])
    assert words in page.text, page.text[:800]
    assert 'href="/login' in page.text  # the way back, a local path
    assert "location" not in page.headers


def test_state_tampered_replayed_or_from_another_browser(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    sites = open_sites(downstream, upstream)
    try:
        callback = upstream_round_trip(sites, login_page(sites, rp), "up", EMAIL)
        tampered = sites.down.get(_local_path(_with_query(callback, state="forged-state")))
        _assert_failure_page(tampered, 400, "This sign-in has expired")
        missing = sites.down.get(_local_path(_with_query(callback, state=None)))
        _assert_failure_page(missing, 400, "This sign-in has expired")

        other = BrowserClient(downstream.base_url)  # a different browser: another cookie jar
        try:
            stolen = other.get(_local_path(callback))
        finally:
            other.close()
        _assert_failure_page(stolen, 400, "This sign-in has expired")

        done = sites.down.follow_local(sites.down.get(_local_path(callback)))
        assert done.status_code == 302 and done.headers["location"].startswith(RP_REDIRECT)
        replayed = sites.down.get(_local_path(callback))
        _assert_failure_page(replayed, 400, "This sign-in has expired")
    finally:
        sites.close()


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"code": None, "error": "temporarily_unavailable"}, 400, "temporarily_unavailable"),
        ({"code": None, "error": "<script>alert(1)</script>"}, 400, "(error: unknown)"),
        ({"code": "not-a-code-the-upstream-issued"}, 400, "refused to complete the sign-in"),
        ({"code": None}, 400, "sent no sign-in code"),
        ({"iss": "https://evil.example/"}, 400, "did not come from"),
    ],
)
def test_upstream_error_responses(
    downstream: ProviderServer,
    upstream: ProviderServer,
    rp: str,
    changes: dict[str, str | None],
    status: int,
    words: str,
) -> None:
    sites = open_sites(downstream, upstream)
    try:
        callback = upstream_round_trip(sites, login_page(sites, rp), "up", EMAIL)
        page = sites.down.get(_local_path(_with_query(callback, **changes)))
        _assert_failure_page(page, status, words)
        assert "<script>alert" not in page.text
        assert 'href="/login?tx=' in page.text  # back to this very sign-in
    finally:
        sites.close()


def test_user_cancels_at_the_upstream(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    sites = open_sites(downstream, upstream)
    try:
        started = continue_with(sites, login_page(sites, rp), "consent")
        consent = at_upstream(sites, started.headers["location"], EMAIL)
        assert 'action="/consent"' in consent.text
        denied = sites.up.consent(consent, decision="deny")
        callback = denied.headers["location"]
        assert "error=access_denied" in callback and callback.startswith(downstream.base_url)
        page = sites.down.get(_local_path(callback))
        _assert_failure_page(page, 400, "was cancelled")
    finally:
        sites.close()


@pytest.mark.parametrize("connection", ["down", "mismatch"])
def test_unreachable_or_impostor_upstream(
    downstream: ProviderServer, upstream: ProviderServer, rp: str, connection: str
) -> None:
    sites = open_sites(downstream, upstream)
    try:
        page = continue_with(sites, login_page(sites, rp), connection)
        _assert_failure_page(page, 502, "We could not reach")
    finally:
        sites.close()


def test_id_token_with_another_nonce_is_refused(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    """The browser carries the authorization request: one that swaps the nonce gets an ID
    token the upstream really signed, for the right client — and still no sign-in."""
    sites = open_sites(downstream, upstream)
    try:
        started = continue_with(sites, login_page(sites, rp), "up")
        forged = _with_query(started.headers["location"], nonce="attacker-chosen")
        answer = at_upstream(sites, forged, EMAIL)
        page = sites.down.get(_local_path(answer.headers["location"]))
        _assert_failure_page(page, 400, "could not be verified")
    finally:
        sites.close()


def test_button_needs_csrf_and_a_known_connection(
    downstream: ProviderServer, upstream: ProviderServer, rp: str
) -> None:
    sites = open_sites(downstream, upstream)
    try:
        page = login_page(sites, rp)
        no_csrf = sites.down.post("/login/connection", data={"connection": "up"})
        _assert_failure_page(no_csrf, 400, "This form has expired")
        unknown = continue_with(sites, page, "nope")
        _assert_failure_page(unknown, 400, "not available")
        bare = sites.down.get("/login/callback")
        _assert_failure_page(bare, 400, "This sign-in has expired")
        junk = sites.down.get("/login/callback?state=%00&code=%00&iss=%00")
        _assert_failure_page(junk, 400, "This sign-in has expired")
    finally:
        sites.close()


def test_sign_in_from_the_login_page_alone_lands_on_the_account(
    downstream: ProviderServer, upstream: ProviderServer
) -> None:
    sites = open_sites(downstream, upstream)
    try:
        page = sites.down.get("/login")
        callback = upstream_round_trip(sites, page, "up", EMAIL)
        account = sites.down.follow_local(sites.down.get(_local_path(callback)))
        assert account.status_code == 200 and EMAIL in account.text
    finally:
        sites.close()
