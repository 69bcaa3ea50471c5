"""Helpers for sign-in through an upstream provider: two real provider instances, one the
"Google-like" upstream, one the provider under test with a connection to it.

The browser keeps one cookie jar per server, as a real browser does for two sites (both test
servers listen on 127.0.0.1, and cookies do not tell ports apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from tests.oidc import BrowserClient, hidden_fields, pkce_pair
from tests.servers import ProviderServer

RP_REDIRECT = "https://rp.example/cb"
PASSWORD = "password-123"


def upstream_client(upstream: ProviderServer, downstream: ProviderServer, *extra: str) -> dict:
    """A confidential client at the upstream whose redirect URI is the downstream's callback."""
    return upstream.cli_json(
        "clients",
        "create",
        "--name",
        "provider-under-test",
        "--redirect-uri",
        downstream.issuer + "login/callback",
        *extra,
    )


def add_connection(
    downstream: ProviderServer, upstream: ProviderServer, client: dict, name: str, *extra: str
) -> dict:
    return downstream.cli_json(
        "connections",
        "create",
        "--name",
        name,
        "--issuer",
        upstream.issuer,
        "--client-id",
        client["client_id"],
        "--client-secret",
        client["client_secret"],
        *extra,
    )


def upstream_user(upstream: ProviderServer, email: str, *, verified: bool) -> None:
    args = ["users", "create", "--email", email, "--password", PASSWORD]
    upstream.cli_json(*args, *(["--email-verified"] if verified else []))


@dataclass
class TwoSites:
    down: BrowserClient
    up: BrowserClient
    verifier: str = ""

    def close(self) -> None:
        self.down.close()
        self.up.close()


def open_sites(downstream: ProviderServer, upstream: ProviderServer) -> TwoSites:
    return TwoSites(BrowserClient(downstream.base_url), BrowserClient(upstream.base_url))


def login_page(sites: TwoSites, client_id: str, **extra: str) -> httpx.Response:
    """The downstream's sign-in page for an authorization request of the relying party."""
    verifier, challenge = pkce_pair()
    sites.verifier = verifier
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": RP_REDIRECT,
        "scope": "openid email",
        "state": "rp-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    page = sites.down.follow_local(sites.down.get("/authorize?" + urlencode(params)))
    assert 'action="/login"' in page.text, page.text[:300]
    return page


def continue_with(sites: TwoSites, page: httpx.Response, connection: str) -> httpx.Response:
    """Press "Continue with …": the downstream's answer (a redirect to the upstream)."""
    fields = hidden_fields(page.text)
    return sites.down.post(
        "/login/connection",
        data={"csrf": fields["csrf"], "tx": fields.get("tx", ""), "connection": connection},
    )


def at_upstream(sites: TwoSites, authorize_url: str, email: str) -> httpx.Response:
    """Sign in at the upstream; its final answer (a redirect to the downstream's callback,
    or a page such as consent)."""
    assert authorize_url.startswith(sites.up.base_url), authorize_url
    page = sites.up.follow_local(sites.up.get(authorize_url))
    assert 'action="/login"' in page.text, page.text[:300]
    return sites.up.follow_local(sites.up.login(page, email, PASSWORD))


def upstream_round_trip(sites: TwoSites, page: httpx.Response, connection: str, email: str) -> str:
    """From the downstream's sign-in page through the upstream: the callback URL."""
    started = continue_with(sites, page, connection)
    assert started.status_code == 303, started.text[:300]
    answer = at_upstream(sites, started.headers["location"], email)
    assert answer.status_code == 302, answer.text[:300]
    callback = answer.headers["location"]
    assert callback.startswith(sites.down.base_url + "/login/callback?"), callback
    return callback


def federated_sign_in(
    sites: TwoSites, client_id: str, connection: str, email: str
) -> httpx.Response:
    """The whole round trip; where the downstream leaves the browser (an MFA page, an error
    page, or the redirect to the relying party)."""
    page = login_page(sites, client_id)
    callback = upstream_round_trip(sites, page, connection, email)
    return sites.down.follow_local(sites.down.get(callback))
