"""The upstream's ID token is validated before anyone is signed in: a real token from a
provider instance passes, and a wrong issuer, audience, nonce or signature is refused, as are
unsigned/HMAC tokens, a foreign azp, and expired or future-dated tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from provider.federation.errors import BadIdToken
from provider.federation.id_token import validate_id_token
from tests.oidc import BrowserClient, tokens_via_code_flow
from tests.servers import ProviderServer, dispose, new_server

REDIRECT = "https://downstream.example/login/callback"
NONCE = "nonce-4f9a"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    server = new_server(tmp_path_factory.mktemp("upstream-id-token"))
    server.start()
    yield server
    dispose(server)


@pytest.fixture(scope="module")
def real(upstream: ProviderServer) -> tuple[str, dict, str]:
    """(a real ID token from the upstream, its JWKS, the client id it was issued to)."""
    client = upstream.cli_json(
        "clients", "create", "--name", "down", "--first-party", "--redirect-uri", REDIRECT
    )
    upstream.cli_json(
        "users", "create", "--email", "ida@example.com", "--password", "password-123",
        "--email-verified",
    )  # fmt: skip
    browser = BrowserClient(upstream.base_url)
    try:
        tokens = tokens_via_code_flow(
            browser,
            "ida@example.com",
            "password-123",
            client_id=client["client_id"],
            redirect_uri=REDIRECT,
            scope="openid email",
            client_secret=client["client_secret"],
            nonce=NONCE,
        )
    finally:
        browser.close()
    jwks = httpx.get(upstream.base_url + "/.well-known/jwks.json").json()
    return tokens["id_token"], jwks, client["client_id"]


def _validate(raw: str, jwks: dict, issuer: str, client_id: str, nonce: str = NONCE) -> dict:
    return validate_id_token(
        raw, jwks, issuer=issuer, client_id=client_id, nonce=nonce, name="Upstream"
    )


def test_a_real_upstream_token_passes(upstream: ProviderServer, real: tuple) -> None:
    raw, jwks, client_id = real
    claims = _validate(raw, jwks, upstream.issuer, client_id)
    assert claims["email"] == "ida@example.com" and claims["email_verified"] is True


@pytest.mark.parametrize(
    ("issuer_suffix", "client_id", "nonce", "detail"),
    [
        ("evil/", None, NONCE, "iss"),  # wrong issuer
        ("", "someone-else", NONCE, "aud"),  # wrong audience
        ("", None, "another-nonce", "nonce"),  # wrong nonce
    ],
)
def test_wrong_issuer_audience_or_nonce_refused(
    upstream: ProviderServer,
    real: tuple,
    issuer_suffix: str,
    client_id: str | None,
    nonce: str,
    detail: str,
) -> None:
    raw, jwks, ours = real
    with pytest.raises(BadIdToken) as refused:
        _validate(raw, jwks, upstream.issuer + issuer_suffix, client_id or ours, nonce)
    assert detail in refused.value.detail
    assert "could not be verified" in refused.value.message


def test_bad_signature_refused(upstream: ProviderServer, real: tuple) -> None:
    raw, jwks, client_id = real
    header, payload, signature = raw.split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    with pytest.raises(BadIdToken):
        _validate(f"{header}.{payload}.{flipped}", jwks, upstream.issuer, client_id)
    # Same claims and kid, signed by a key the upstream never published.
    claims = jwt.decode(raw, _any_key(jwks)).claims
    kid = jwks["keys"][0]["kid"]
    impostor = RSAKey.generate_key(2048, parameters={"kid": kid})
    forged = jwt.encode({"alg": "RS256", "kid": kid}, claims, impostor)
    with pytest.raises(BadIdToken):
        _validate(forged, jwks, upstream.issuer, client_id)


def _any_key(jwks: dict):  # type: ignore[no-untyped-def]
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(jwks)


# Crafted tokens, for what a well-behaved upstream never sends.
ISSUER = "https://idp.example/"
CLIENT = "client-1"


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


def _token(key: RSAKey, **overrides: object) -> str:
    stamp = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT,
        "iat": stamp,
        "exp": stamp + 300,
        "nonce": NONCE,
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def _jwks(key: RSAKey) -> dict:
    return {"keys": [key.as_dict(private=False)]}


def test_crafted_token_passes_when_right(key: RSAKey) -> None:
    assert _validate(_token(key), _jwks(key), ISSUER, CLIENT)["sub"] == "user-1"
    several = _token(key, aud=[CLIENT, "other"], azp=CLIENT)
    assert _validate(several, _jwks(key), ISSUER, CLIENT)["azp"] == CLIENT


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": [CLIENT, "other"]},  # several audiences and no azp
        {"aud": [CLIENT, "other"], "azp": "other"},
        {"exp": int(time.time()) - 3600},
        {"iat": int(time.time()) + 3600},
        {"exp": None},
        {"nonce": None},
        {"sub": None},
        {"iss": ISSUER.rstrip("/")},  # exact match only
    ],
)
def test_crafted_claims_refused(key: RSAKey, overrides: dict) -> None:
    with pytest.raises(BadIdToken):
        _validate(_token(key, **overrides), _jwks(key), ISSUER, CLIENT)


def test_unsigned_and_hmac_tokens_refused(key: RSAKey) -> None:
    header, payload, _ = _token(key).split(".")
    import base64
    import json

    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    with pytest.raises(BadIdToken):
        _validate(f"{none_header.decode()}.{payload}.", _jwks(key), ISSUER, CLIENT)
    secret = OctKey.generate_key(256, parameters={"kid": "k1"})
    claims = jwt.decode(_token(key), key).claims
    hmac_token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims, secret)
    jwks = {"keys": [key.as_dict(private=False), secret.as_dict(private=True)]}
    with pytest.raises(BadIdToken):
        _validate(hmac_token, jwks, ISSUER, CLIENT)
    with pytest.raises(BadIdToken):
        _validate("not.a.token", _jwks(key), ISSUER, CLIENT)
