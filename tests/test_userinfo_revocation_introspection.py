"""UserInfo (OIDC Core §5.3), revocation (RFC 7009) and introspection (RFC 7662) against a real
server."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from tests.oidc import BrowserClient, decode_verified, tokens_via_code_flow
from tests.servers import ProviderServer, public_client

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"
REDIRECT = "https://rp.example/callback"
API = "https://api.example/"


def _web_client(server: ProviderServer, *extra: str) -> tuple[str, str]:
    created = server.cli_json(
        "clients", "create", "--name", "web", "--first-party", "--redirect-uri", REDIRECT, *extra
    )
    return created["client_id"], created["client_secret"]


def _machine_client(server: ProviderServer, audience: str = API) -> tuple[str, str]:
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "machine",
        "--grant-type",
        "client_credentials",
        "--audience",
        audience,
        "--scope",
        "read:things",
    )
    return created["client_id"], created["client_secret"]


def _sign_in(
    server: ProviderServer,
    client_id: str,
    secret: str | None,
    scope: str,
    email: str = DEMO_EMAIL,
    password: str = DEMO_PASSWORD,
    **extra: str,
) -> dict[str, Any]:
    browser = BrowserClient(server.base_url)
    try:
        return tokens_via_code_flow(
            browser,
            email,
            password,
            client_id=client_id,
            redirect_uri=REDIRECT,
            scope=scope,
            client_secret=secret,
            **extra,
        )
    finally:
        browser.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _userinfo(server: ProviderServer, token: str) -> httpx.Response:
    return httpx.get(server.base_url + "/userinfo", headers=_bearer(token))


def _introspect(
    server: ProviderServer, token: str, client_id: str, secret: str, **extra: str
) -> httpx.Response:
    return httpx.post(
        server.base_url + "/oauth/introspect",
        data={
            "token": token,
            "client_id": client_id,
            "client_secret": secret,
            **extra,
        },
    )


def _active(server: ProviderServer, token: str, client_id: str, secret: str) -> bool:
    answer = _introspect(server, token, client_id, secret)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if body["active"] is False:
        assert body == {"active": False}, body  # nothing about an inactive token leaks
    return bool(body["active"])


def _revoke(
    server: ProviderServer, token: str, client_id: str, secret: str | None, **extra: str
) -> httpx.Response:
    form = {"token": token, "client_id": client_id, **extra}
    if secret is not None:
        form["client_secret"] = secret
    return httpx.post(server.base_url + "/oauth/revoke", data=form)


def _refresh(
    server: ProviderServer, refresh_token: str, client_id: str, secret: str
) -> httpx.Response:
    return httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": secret,
        },
    )


# -- userinfo ---------------------------------------------------------------------------------


def test_userinfo_get_and_post(server: ProviderServer) -> None:
    """GET with a Bearer header and POST with an access_token form field give the same
    claims, uncached; the sub is the ID token's."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email")
    _, id_claims = decode_verified(tokens["id_token"], server.base_url)

    by_get = _userinfo(server, tokens["access_token"])
    assert by_get.status_code == 200, by_get.text
    assert by_get.headers["cache-control"] == "no-store"
    assert by_get.json()["sub"] == id_claims["sub"]
    assert by_get.json()["email"] == DEMO_EMAIL

    by_post = httpx.post(
        server.base_url + "/userinfo", data={"access_token": tokens["access_token"]}
    )
    assert by_post.status_code == 200, by_post.text
    assert by_post.json() == by_get.json()

    by_post_header = httpx.post(
        server.base_url + "/userinfo", headers=_bearer(tokens["access_token"])
    )
    assert by_post_header.status_code == 200
    assert by_post_header.json() == by_get.json()


def test_userinfo_refuses_missing_bad_or_doubled_tokens(server: ProviderServer) -> None:
    """No token: 401 with a Bearer challenge; a forged or ID token: 401 invalid_token; a token
    both in the header and the body: 400."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email")

    missing = httpx.get(server.base_url + "/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")

    head, payload, signature = tokens["access_token"].split(".")
    tampered_payload = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    for bad in ("not-a-token", f"{head}.{tampered_payload}.{signature}", tokens["id_token"]):
        answer = _userinfo(server, bad)
        assert answer.status_code == 401, (bad[:20], answer.text)
        assert answer.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]

    doubled = httpx.post(
        server.base_url + "/userinfo",
        headers=_bearer(tokens["access_token"]),
        data={"access_token": tokens["access_token"]},
    )
    assert doubled.status_code == 400
    assert doubled.json()["error"] == "invalid_request"


def test_userinfo_claims_follow_scope(server: ProviderServer) -> None:
    """openid alone gives only sub; email adds email and email_verified; profile adds name
    and updated_at but no email."""
    client_id, secret = _web_client(server)
    only_openid = _userinfo(server, _sign_in(server, client_id, secret, "openid")["access_token"])
    assert only_openid.status_code == 200
    assert set(only_openid.json()) == {"sub"}

    email = _userinfo(server, _sign_in(server, client_id, secret, "openid email")["access_token"])
    assert set(email.json()) == {"sub", "email", "email_verified"}
    assert email.json()["email"] == DEMO_EMAIL
    assert email.json()["email_verified"] is True

    profile = _userinfo(
        server, _sign_in(server, client_id, secret, "openid profile")["access_token"]
    )
    assert "email" not in profile.json() and "email_verified" not in profile.json()
    assert profile.json()["name"] == "Demo User"
    assert isinstance(profile.json()["updated_at"], int)
    assert profile.json()["sub"] == only_openid.json()["sub"] == email.json()["sub"]


def test_userinfo_for_another_user(server: ProviderServer) -> None:
    """Claims are those of the signed-in user: a new, unverified user sees their own."""
    email, password = f"u{time.time_ns()}@example.com", "another-long-password"
    created = server.cli_json("users", "create", "--email", email, "--password", password)
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email", email=email, password=password)
    info = _userinfo(server, tokens["access_token"]).json()
    assert info == {"sub": created["user_id"], "email": email, "email_verified": False}


def test_userinfo_needs_the_openid_scope(server: ProviderServer) -> None:
    """An OAuth-only token (no openid scope) is refused with 403 insufficient_scope."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "email")
    answer = _userinfo(server, tokens["access_token"])
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "insufficient_scope"
    assert "email" not in answer.json()


# -- revocation -------------------------------------------------------------------------------


def test_revoking_an_access_token(server: ProviderServer) -> None:
    """A revoked access token is inactive at introspection and refused at userinfo."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email")
    assert _active(server, tokens["access_token"], client_id, secret)
    assert _userinfo(server, tokens["access_token"]).status_code == 200

    answer = _revoke(
        server, tokens["access_token"], client_id, secret, token_type_hint="access_token"
    )
    assert answer.status_code == 200, answer.text

    assert not _active(server, tokens["access_token"], client_id, secret)
    info = _userinfo(server, tokens["access_token"])
    assert info.status_code == 401
    assert info.json()["error"] == "invalid_token"
    # Revoking again is harmless.
    assert _revoke(server, tokens["access_token"], client_id, secret).status_code == 200


def test_revocation_searches_beyond_a_wrong_hint(server: ProviderServer) -> None:
    """RFC 7009 §2.1: a wrong token_type_hint must not stop the revocation, nor (RFC 7662
    §2.1) the introspection."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email offline_access")

    hinted = _introspect(
        server, tokens["access_token"], client_id, secret, token_type_hint="refresh_token"
    )
    assert hinted.json()["active"] is True
    hinted = _introspect(
        server, tokens["refresh_token"], client_id, secret, token_type_hint="access_token"
    )
    assert hinted.json()["active"] is True

    answer = _revoke(
        server, tokens["access_token"], client_id, secret, token_type_hint="refresh_token"
    )
    assert answer.status_code == 200, answer.text
    assert not _active(server, tokens["access_token"], client_id, secret)
    assert _userinfo(server, tokens["access_token"]).status_code == 401


def test_revoking_a_refresh_token(server: ProviderServer) -> None:
    """Revoking a refresh token (Basic auth) ends it and the access tokens of its grant."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email offline_access")
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    answer = httpx.post(
        server.base_url + "/oauth/revoke",
        data={"token": tokens["refresh_token"]},
        headers={"Authorization": basic},
    )
    assert answer.status_code == 200, answer.text

    refreshed = _refresh(server, tokens["refresh_token"], client_id, secret)
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert not _active(server, tokens["refresh_token"], client_id, secret)
    assert not _active(server, tokens["access_token"], client_id, secret)
    assert _userinfo(server, tokens["access_token"]).status_code == 401


def test_public_client_revokes_its_refresh_token(server: ProviderServer) -> None:
    """A public client revokes with its client_id alone."""
    client_id = public_client(server, REDIRECT, name="spa")
    tokens = _sign_in(server, client_id, None, "openid offline_access")
    assert _revoke(server, tokens["refresh_token"], client_id, None).status_code == 200
    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client_id,
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_another_client_cannot_revoke(server: ProviderServer) -> None:
    """A client cannot revoke tokens issued to another client: refused, tokens stay active."""
    client_id, secret = _web_client(server)
    other_id, other_secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid offline_access")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        answer = _revoke(server, token, other_id, other_secret)
        assert answer.status_code == 400, answer.text
        assert _active(server, token, client_id, secret)
    assert _refresh(server, tokens["refresh_token"], client_id, secret).status_code == 200


def test_revocation_needs_client_authentication(server: ProviderServer) -> None:
    """Unknown tokens are answered 200 (RFC 7009 §2.2); a wrong secret is invalid_client and
    revokes nothing."""
    client_id, secret = _web_client(server)
    assert _revoke(server, "no-such-token", client_id, secret).status_code == 200

    tokens = _sign_in(server, client_id, secret, "openid")
    answer = _revoke(server, tokens["access_token"], client_id, "wrong-secret")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert _active(server, tokens["access_token"], client_id, secret)


# -- introspection ----------------------------------------------------------------------------


def test_introspection_of_an_access_token(server: ProviderServer) -> None:
    """An active access token is described by its own claims, uncached."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email offline_access")
    _, claims = decode_verified(tokens["access_token"], server.base_url)
    answer = _introspect(server, tokens["access_token"], client_id, secret)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti"):
        assert body[name] == claims[name], name
    assert body["client_id"] == client_id
    assert body["iss"] == server.issuer
    assert set(body["scope"].split()) == {"openid", "email", "offline_access"}
    assert body["exp"] > time.time()


def test_introspection_of_a_refresh_token(server: ProviderServer) -> None:
    """An active refresh token is described by its grant; once rotated it is inactive and
    its successor active."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid email offline_access")
    _, claims = decode_verified(tokens["access_token"], server.base_url)
    answer = _introspect(
        server, tokens["refresh_token"], client_id, secret, token_type_hint="refresh_token"
    )
    body = answer.json()
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == client_id
    assert body["sub"] == claims["sub"]
    assert body["iss"] == server.issuer
    assert set(body["scope"].split()) == {"openid", "email", "offline_access"}
    assert body["exp"] > time.time() + 3600
    assert abs(body["iat"] - time.time()) < 120
    assert "jti" not in body or body["jti"] != claims["jti"]

    rotated = _refresh(server, tokens["refresh_token"], client_id, secret).json()["refresh_token"]
    assert not _active(server, tokens["refresh_token"], client_id, secret)
    assert _active(server, rotated, client_id, secret)


def test_introspection_by_an_unrelated_client_says_inactive(server: ProviderServer) -> None:
    """A client that neither holds the token nor is its audience learns nothing."""
    client_id, secret = _web_client(server)
    other_id, other_secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid offline_access")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert _introspect(server, token, other_id, other_secret).json() == {"active": False}
        assert _active(server, token, client_id, secret)


def test_resource_server_introspects_tokens_for_its_audience(server: ProviderServer) -> None:
    """A client registered for an API audience may introspect tokens issued to other clients
    for that API (machine and user tokens), but not tokens for another API."""
    resource_id, resource_secret = _machine_client(server, API)
    caller_id, caller_secret = _machine_client(server, API)
    token = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": caller_id,
            "client_secret": caller_secret,
        },
    ).json()["access_token"]
    body = _introspect(server, token, resource_id, resource_secret).json()
    assert body["active"] is True
    assert body["sub"] == f"{caller_id}@clients"
    assert body["client_id"] == caller_id
    assert body["aud"] == API

    web_id, web_secret = _web_client(server, "--audience", API)
    user_token = _sign_in(server, web_id, web_secret, "openid", audience=API)["access_token"]
    body = _introspect(server, user_token, resource_id, resource_secret).json()
    assert body["active"] is True
    assert body["client_id"] == web_id

    elsewhere_id, elsewhere_secret = _machine_client(server, "https://elsewhere.example/")
    foreign = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": elsewhere_id,
            "client_secret": elsewhere_secret,
        },
    ).json()["access_token"]
    assert _introspect(server, foreign, resource_id, resource_secret).json() == {"active": False}


def test_public_clients_cannot_introspect(server: ProviderServer) -> None:
    """Introspection needs a confidential client: a public one (and a wrong secret) gets 401."""
    public_id = public_client(server, REDIRECT, name="spa")
    tokens = _sign_in(server, public_id, None, "openid offline_access")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        answer = httpx.post(
            server.base_url + "/oauth/introspect", data={"token": token, "client_id": public_id}
        )
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_client"
        assert "active" not in answer.json()

    client_id, secret = _web_client(server)
    mine = _sign_in(server, client_id, secret, "openid")["access_token"]
    answer = _introspect(server, mine, client_id, secret + "x")
    assert answer.status_code == 401
    assert "active" not in answer.json()


def test_introspection_of_unknown_and_id_tokens(server: ProviderServer) -> None:
    """Garbage, and an ID token (not an access token), are inactive."""
    client_id, secret = _web_client(server)
    tokens = _sign_in(server, client_id, secret, "openid")
    for token in ("garbage", "a.b.c", tokens["id_token"]):
        assert _introspect(server, token, client_id, secret).json() == {"active": False}
