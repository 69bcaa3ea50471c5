"""A browser-like client for the hosted pages, and OIDC helpers (PKCE, ID token checks)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hidden_fields(html: str) -> dict[str, str]:
    return dict(HIDDEN.findall(html))


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class AuthorizationResult:
    location: str
    params: dict[str, str]


class BrowserClient:
    """Cookies kept, redirects followed by hand so tests can look at each hop."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.get(url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.post(url, **kw)

    def start(self, **params: str) -> httpx.Response:
        return self.get("/authorize?" + urlencode(params))

    def follow_local(self, response: httpx.Response) -> httpx.Response:
        """Follow redirects while they stay on the provider."""
        while response.status_code in (302, 303):
            location = response.headers["location"]
            if location.startswith("http") and not location.startswith(self.base_url):
                return response
            response = self.get(location)
        return response

    def login(self, page: httpx.Response, email: str, password: str) -> httpx.Response:
        fields = hidden_fields(page.text)
        return self.post("/login", data={**fields, "email": email, "password": password})

    def consent(self, page: httpx.Response, decision: str = "allow") -> httpx.Response:
        fields = hidden_fields(page.text)
        return self.post("/consent", data={**fields, "decision": decision})

    def sign_in(self, email: str, password: str, **params: str) -> AuthorizationResult:
        """Run /authorize through login (and consent when asked) to the client redirect."""
        response = self.follow_local(self.start(**params))
        if response.status_code == 200 and 'action="/login"' in response.text:
            response = self.follow_local(self.login(response, email, password))
        if response.status_code == 200 and 'action="/consent"' in response.text:
            response = self.follow_local(self.consent(response))
        assert response.status_code == 302, (response.status_code, response.text[:500])
        location = response.headers["location"]
        return AuthorizationResult(location, query_of(location))


def fetch_jwks(base_url: str) -> KeySet:
    return KeySet.import_key_set(httpx.get(base_url + "/.well-known/jwks.json").json())


def decode_verified(token: str, base_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT, after checking its signature against the server's JWKS."""
    decoded = jwt.decode(token, fetch_jwks(base_url), algorithms=["RS256", "ES256"])
    return decoded.header, decoded.claims


def tokens_via_code_flow(
    browser: BrowserClient,
    email: str,
    password: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    client_secret: str | None = None,
    **extra: str,
) -> dict[str, Any]:
    """Sign in through the hosted pages (code + PKCE) and exchange the code; the token
    response body. Confidential clients authenticate with client_secret_post."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    result = browser.sign_in(
        email,
        password,
        response_type="code",
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        code_challenge=challenge,
        code_challenge_method="S256",
        **extra,
    )
    assert result.params.get("state") == state and "code" in result.params, result.location
    form = {
        "grant_type": "authorization_code",
        "code": result.params["code"],
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    if client_secret is not None:
        form["client_secret"] = client_secret
    answer = httpx.post(browser.base_url + "/oauth/token", data=form)
    assert answer.status_code == 200, answer.text
    return answer.json()
