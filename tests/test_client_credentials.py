"""The client_credentials grant against a real server: JWT access tokens for APIs, client
authentication (post, Basic, JSON bodies) and the ways a request is refused."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from tests.oidc import decode_verified
from tests.servers import ProviderServer

API = "https://api.example/"
OTHER_API = "https://other-api.example/"


def _machine_client(server: ProviderServer, *audiences: str) -> tuple[str, str]:
    args = [
        "clients",
        "create",
        "--name",
        "machine",
        "--grant-type",
        "client_credentials",
        "--scope",
        "read:things",
        "--scope",
        "write:things",
    ]
    for audience in audiences or (API,):
        args += ["--audience", audience]
    created = server.cli_json(*args)
    return created["client_id"], created["client_secret"]


def _token(server: ProviderServer, **kw: Any) -> httpx.Response:
    return httpx.post(server.base_url + "/oauth/token", **kw)


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _percent_encode_all(text: str) -> str:
    """Form-urlencode every character (%XX), which a server must decode back (RFC 6749 §2.3.1)."""
    return "".join(f"%{b:02X}" for b in text.encode())


def _assert_refused(answer: httpx.Response, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == error, body
    assert "access_token" not in body


def test_access_token_is_a_jwt_verified_by_the_jwks(server: ProviderServer) -> None:
    """The token verifies against the JWKS, names its key, is typed at+jwt and carries aud,
    sub, client_id, scope (everything granted when none is asked) and a sane lifetime."""
    client_id, secret = _machine_client(server)
    answer = _token(
        server,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": API,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body and "id_token" not in body

    header, claims = decode_verified(body["access_token"], server.base_url)
    jwks = httpx.get(server.base_url + "/.well-known/jwks.json").json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert claims["iss"] == server.issuer
    assert claims["aud"] == API
    assert claims["sub"] == f"{client_id}@clients"
    assert claims["client_id"] == client_id
    assert set(claims["scope"].split()) == {"read:things", "write:things"}
    assert body["scope"] == claims["scope"]
    assert claims["jti"]
    assert "gid" not in claims
    assert claims["exp"] - claims["iat"] == body["expires_in"] > 0
    assert abs(claims["iat"] - time.time()) < 120


def test_each_token_is_distinct(server: ProviderServer) -> None:
    """Two requests give two tokens with different jti."""
    client_id, secret = _machine_client(server)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    first = decode_verified(_token(server, data=form).json()["access_token"], server.base_url)[1]
    second = decode_verified(_token(server, data=form).json()["access_token"], server.base_url)[1]
    assert first["jti"] != second["jti"]


def test_requested_scope_subset_and_default_audience(server: ProviderServer) -> None:
    """A requested subset of scopes is what the token gets; without `audience` a client with
    one API gets a token for it."""
    client_id, secret = _machine_client(server)
    answer = _token(
        server,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "read:things",
        },
    )
    assert answer.status_code == 200, answer.text
    _, claims = decode_verified(answer.json()["access_token"], server.base_url)
    assert claims["scope"] == "read:things"
    assert claims["aud"] == API


def test_basic_authentication(server: ProviderServer) -> None:
    """client_secret_basic works."""
    client_id, secret = _machine_client(server)
    answer = _token(
        server,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(client_id, secret)},
    )
    assert answer.status_code == 200, answer.text
    _, claims = decode_verified(answer.json()["access_token"], server.base_url)
    assert claims["client_id"] == client_id


def test_basic_authentication_with_form_urlencoded_credentials(server: ProviderServer) -> None:
    """Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1): the server
    decodes them, so fully percent-encoded id and secret still authenticate."""
    client_id, secret = _machine_client(server)
    encoded = _basic(_percent_encode_all(client_id), _percent_encode_all(secret))
    answer = _token(
        server, data={"grant_type": "client_credentials"}, headers={"Authorization": encoded}
    )
    assert answer.status_code == 200, answer.text
    _, claims = decode_verified(answer.json()["access_token"], server.base_url)
    assert claims["client_id"] == client_id
    assert claims["sub"] == f"{client_id}@clients"


def test_json_body_with_null_fields_and_empty_scope(server: ProviderServer) -> None:
    """A JSON body works; null means absent and an empty scope means the default (all
    granted scopes, the only audience)."""
    client_id, secret = _machine_client(server)
    answer = _token(
        server,
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": None,
            "scope": "",
            "organization": None,
        },
    )
    assert answer.status_code == 200, answer.text
    _, claims = decode_verified(answer.json()["access_token"], server.base_url)
    assert claims["aud"] == API
    assert set(claims["scope"].split()) == {"read:things", "write:things"}


def test_json_body_with_audience(server: ProviderServer) -> None:
    """JSON audience and scope are honoured for a client with several APIs."""
    client_id, secret = _machine_client(server, API, OTHER_API)
    answer = _token(
        server,
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": OTHER_API,
            "scope": "write:things",
        },
    )
    assert answer.status_code == 200, answer.text
    _, claims = decode_verified(answer.json()["access_token"], server.base_url)
    assert claims["aud"] == OTHER_API
    assert claims["scope"] == "write:things"


def test_wrong_secret_is_invalid_client(server: ProviderServer) -> None:
    """A wrong secret, by post or Basic, or an unknown client: 401 invalid_client."""
    client_id, secret = _machine_client(server)
    _assert_refused(
        _token(
            server,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret[:-1],
            },
        ),
        401,
        "invalid_client",
    )
    basic = _token(
        server,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(client_id, "wrong-secret")},
    )
    _assert_refused(basic, 401, "invalid_client")
    assert basic.headers["www-authenticate"].lower().startswith("basic")
    unknown = _token(
        server,
        data={
            "grant_type": "client_credentials",
            "client_id": "no-such-client",
            "client_secret": secret,
        },
    )
    assert unknown.status_code in (400, 401), unknown.text  # RFC 6749 §5.2 allows either
    assert unknown.json()["error"] == "invalid_client"
    _assert_refused(
        _token(
            server,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
            },
        ),
        401,
        "invalid_client",
    )


def test_unauthorized_audience_is_refused(server: ProviderServer) -> None:
    """An audience the client is not registered for gets a 400 error and no token, also when
    the audience holds characters an error description may not carry."""
    client_id, secret = _machine_client(server)
    for audience in (OTHER_API, 'https://evil.example/"quoted"\\back\u00e9'):
        answer = _token(
            server,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "audience": audience,
            },
        )
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["error"] in ("invalid_request", "invalid_target", "access_denied")
        assert "access_token" not in body
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in body["error_description"])


def test_missing_audience_with_several_apis_is_refused(server: ProviderServer) -> None:
    """Without `audience`, a client with several APIs has no default and gets no token."""
    client_id, secret = _machine_client(server, API, OTHER_API)
    answer = _token(
        server,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert "access_token" not in answer.json()
    assert answer.json()["error"] in ("access_denied", "invalid_request", "invalid_target")


def test_scope_not_granted_is_invalid_scope(server: ProviderServer) -> None:
    """Asking for a scope the client was not given: invalid_scope."""
    client_id, secret = _machine_client(server)
    for scope in ("admin:things", "read:things admin:things", "openid"):
        _assert_refused(
            _token(
                server,
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": secret,
                    "scope": scope,
                },
            ),
            400,
            "invalid_scope",
        )


def test_client_without_the_grant_is_unauthorized_client(server: ProviderServer) -> None:
    """A confidential client registered only for the code flow cannot use client_credentials."""
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "web",
        "--redirect-uri",
        "https://rp.example/cb",
        "--audience",
        API,
    )
    _assert_refused(
        _token(
            server,
            data={
                "grant_type": "client_credentials",
                "client_id": created["client_id"],
                "client_secret": created["client_secret"],
                "audience": API,
            },
        ),
        400,
        "unauthorized_client",
    )


def test_client_credentials_token_is_not_for_userinfo(server: ProviderServer) -> None:
    """A machine token is meant for its API: userinfo refuses it."""
    client_id, secret = _machine_client(server)
    token = _token(
        server,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
    ).json()["access_token"]
    answer = httpx.get(server.base_url + "/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (401, 403)
    assert "sub" not in answer.json()
