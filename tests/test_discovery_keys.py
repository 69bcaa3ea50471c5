"""OpenID Provider metadata, the JWKS, and signing-key rotation with `provider keys rotate`."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.oidc import BrowserClient, decode_verified, fetch_jwks, tokens_via_code_flow
from tests.servers import ProviderServer, public_client

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"
REDIRECT = "https://rp.example/callback"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _discovery(server: ProviderServer) -> dict[str, Any]:
    answer = httpx.get(server.base_url + "/.well-known/openid-configuration")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


def _jwks(server: ProviderServer) -> dict[str, Any]:
    answer = httpx.get(server.base_url + "/.well-known/jwks.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


def _id_and_access_token(server: ProviderServer, client_id: str) -> dict[str, Any]:
    browser = BrowserClient(server.base_url)
    try:
        return tokens_via_code_flow(
            browser,
            DEMO_EMAIL,
            DEMO_PASSWORD,
            client_id=client_id,
            redirect_uri=REDIRECT,
            scope="openid email",
        )
    finally:
        browser.close()


def test_discovery_document(server: ProviderServer) -> None:
    """The issuer is exactly the configured one, every endpoint lives under it, and the
    advertised capabilities match what the server does (code flow, S256 only, RS256)."""
    doc = _discovery(server)
    assert doc["issuer"] == server.issuer
    assert doc["authorization_endpoint"] == server.issuer + "authorize"
    assert doc["token_endpoint"] == server.issuer + "oauth/token"
    assert doc["userinfo_endpoint"] == server.issuer + "userinfo"
    assert doc["jwks_uri"] == server.issuer + ".well-known/jwks.json"
    assert doc["revocation_endpoint"] == server.issuer + "oauth/revoke"
    assert doc["introspection_endpoint"] == server.issuer + "oauth/introspect"
    assert doc["end_session_endpoint"] == server.issuer + "oidc/logout"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "profile", "email", "offline_access"} <= set(doc["scopes_supported"])
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        doc["grant_types_supported"]
    )
    assert {"client_secret_basic", "client_secret_post", "none"} == set(
        doc["token_endpoint_auth_methods_supported"]
    )
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]
    assert {"none", "login", "consent"} <= set(doc["prompt_values_supported"])
    assert {"sub", "email", "email_verified", "name"} <= set(doc["claims_supported"])


def test_discovered_endpoints_are_served(server: ProviderServer) -> None:
    """Each advertised endpoint answers (no 404/405) with the method it is meant for."""
    doc = _discovery(server)
    assert httpx.get(doc["jwks_uri"]).status_code == 200
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        answer = httpx.post(doc[name], data={})
        assert answer.status_code in (400, 401), (name, answer.status_code)
        assert "error" in answer.json()
    assert httpx.get(doc["userinfo_endpoint"]).status_code == 401
    assert httpx.get(doc["authorization_endpoint"]).status_code == 400
    assert httpx.get(doc["end_session_endpoint"]).status_code == 200


def test_jwks_publishes_only_public_keys(server: ProviderServer) -> None:
    """Every key has a unique kid, no private member, and not both `use` and `key_ops`; the
    set imports as a key set and verifies the server's ID tokens."""
    keys = _jwks(server)["keys"]
    assert keys
    kids = [key.get("kid") for key in keys]
    assert all(isinstance(kid, str) and kid for kid in kids)
    assert len(set(kids)) == len(kids)
    for key in keys:
        assert not PRIVATE_MEMBERS & key.keys(), sorted(key)
        assert not ("use" in key and "key_ops" in key)
        assert key.get("use", "sig") == "sig"
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert {"n", "e"} <= key.keys()
    fetch_jwks(server.base_url)  # importable as a JWK set


def test_tokens_name_a_published_key(server: ProviderServer) -> None:
    """ID and access tokens carry the kid of a key in the JWKS and verify against it."""
    client_id = public_client(server, REDIRECT, name="spa")
    tokens = _id_and_access_token(server, client_id)
    kids = {key["kid"] for key in _jwks(server)["keys"]}
    for token in (tokens["id_token"], tokens["access_token"]):
        header, claims = decode_verified(token, server.base_url)
        assert header["kid"] in kids
        assert header["alg"] == "RS256"
        assert claims["iss"] == server.issuer


def test_key_rotation(server: ProviderServer) -> None:
    """`provider keys rotate` then a restart: the JWKS has the old and the new kid, new tokens
    are signed with the new key, and tokens signed with the old key still verify (at the JWKS,
    at userinfo and as an id_token_hint)."""
    client_id = server.cli_json(
        "clients",
        "create",
        "--name",
        "spa",
        "--public",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        "--logout-uri",
        "https://rp.example/bye",
    )["client_id"]
    before = _id_and_access_token(server, client_id)
    old_header, old_claims = decode_verified(before["id_token"], server.base_url)
    old_kid = old_header["kid"]

    output = server.cli("keys", "rotate").stdout
    match = re.search(r"new signing key (\S+);", output)
    assert match, output
    new_kid = match.group(1)
    assert new_kid != old_kid

    server.stop()
    server.start()

    keys = _jwks(server)["keys"]
    kids = [key["kid"] for key in keys]
    assert old_kid in kids and new_kid in kids
    assert len(set(kids)) == len(kids)
    for key in keys:
        assert not PRIVATE_MEMBERS & key.keys()
        assert not ("use" in key and "key_ops" in key)

    after = _id_and_access_token(server, client_id)
    for token in (after["id_token"], after["access_token"]):
        header, _ = decode_verified(token, server.base_url)
        assert header["kid"] == new_kid

    header, claims = decode_verified(before["id_token"], server.base_url)
    assert header["kid"] == old_kid
    assert claims == old_claims
    info = httpx.get(
        server.base_url + "/userinfo", headers={"Authorization": f"Bearer {before['access_token']}"}
    )
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == old_claims["sub"]
    logout = httpx.get(
        server.base_url + "/oidc/logout",
        params={
            "id_token_hint": before["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
    )
    assert logout.status_code == 302
    assert logout.headers["location"] == "https://rp.example/bye"
