"""The authorization code flow with PKCE through the hosted pages, against a real server."""

from __future__ import annotations

import secrets
import time

import httpx

from tests.oidc import BrowserClient, decode_verified, pkce_pair
from tests.servers import ProviderServer

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"


def _public_client(server: ProviderServer, redirect: str) -> str:
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "spa",
        "--public",
        "--first-party",
        "--redirect-uri",
        redirect,
    )
    return created["client_id"]


def test_code_flow_with_pkce_yields_verified_id_token(server: ProviderServer) -> None:
    redirect = "https://rp.example/callback"
    client_id = _public_client(server, redirect)
    verifier, challenge = pkce_pair()
    nonce, state = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    browser = BrowserClient(server.base_url)
    result = browser.sign_in(
        DEMO_EMAIL,
        DEMO_PASSWORD,
        response_type="code",
        client_id=client_id,
        redirect_uri=redirect,
        scope="openid profile email offline_access",
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert result.location.startswith(redirect + "?")
    assert result.params["state"] == state
    assert result.params["iss"] == server.issuer

    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "redirect_uri": redirect,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert answer.headers["cache-control"] == "no-store"
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= tokens.keys()

    header, claims = decode_verified(tokens["id_token"], server.base_url)
    jwks_kids = {
        k["kid"] for k in httpx.get(server.base_url + "/.well-known/jwks.json").json()["keys"]
    }
    assert header["kid"] in jwks_kids
    assert claims["iss"] == server.issuer
    assert claims["aud"] == client_id
    assert claims["nonce"] == nonce
    assert claims["email"] == DEMO_EMAIL
    assert claims["amr"] == ["pwd"]
    assert abs(claims["auth_time"] - time.time()) < 120
    assert claims["exp"] > claims["iat"]

    info = httpx.get(
        server.base_url + "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]
    browser.close()
