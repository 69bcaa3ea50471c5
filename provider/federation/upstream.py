"""provider as a relying party to an upstream OpenID provider: discovery, the authorization
URL (code + PKCE S256, state, nonce), the code exchange and the upstream's keys.

Every call has a timeout, follows no redirects, and ends either in a value or in an
`UpstreamUnavailable` / `UpstreamRefused` carrying a message fit for the user.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from provider.federation.errors import UpstreamRefused, UpstreamUnavailable
from provider.federation.issuers import discovery_url, url_problem

log = logging.getLogger("provider.federation")
TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 512 * 1024


@dataclass(frozen=True)
class UpstreamMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_auth_methods: tuple[str, ...]
    id_token_algs: tuple[str, ...]


@dataclass(frozen=True)
class UpstreamClient:
    """The connection's credentials at the upstream and provider's callback URL."""

    name: str  # display name, for messages
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    redirect_uri: str


def _unavailable(name: str, detail: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"We could not reach {name}. Try again in a moment, or sign in another way.",
        detail=detail,
    )


async def _get_json(url: str, name: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
            answer = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise _unavailable(name, f"GET {url}: {exc!r}") from exc
    if answer.status_code != 200 or len(answer.content) > MAX_DOCUMENT_BYTES:
        raise _unavailable(name, f"GET {url}: HTTP {answer.status_code}")
    try:
        document = answer.json()
    except ValueError as exc:
        raise _unavailable(name, f"GET {url}: not JSON") from exc
    if not isinstance(document, dict):
        raise _unavailable(name, f"GET {url}: not a JSON object")
    return document


def _endpoint(document: dict[str, Any], key: str, name: str, required: bool = True) -> str | None:
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or url_problem(value):
        raise _unavailable(name, f"discovery: bad {key} {value!r}")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


async def discover(issuer: str, name: str) -> UpstreamMetadata:
    """The upstream's discovery document; its `issuer` must equal the configured one exactly
    (OIDC Discovery §4.3), so a document cannot speak for another issuer."""
    document = await _get_json(discovery_url(issuer), name)
    if document.get("issuer") != issuer:
        raise _unavailable(
            name, f"discovery: issuer {document.get('issuer')!r} is not the configured {issuer!r}"
        )
    return UpstreamMetadata(
        issuer=issuer,
        authorization_endpoint=_endpoint(document, "authorization_endpoint", name) or "",
        token_endpoint=_endpoint(document, "token_endpoint", name) or "",
        jwks_uri=_endpoint(document, "jwks_uri", name) or "",
        userinfo_endpoint=_endpoint(document, "userinfo_endpoint", name, required=False),
        token_auth_methods=_strings(document.get("token_endpoint_auth_methods_supported")),
        id_token_algs=_strings(document.get("id_token_signing_alg_values_supported")),
    )


def _oauth_client(client: UpstreamClient, metadata: UpstreamMetadata) -> AsyncOAuth2Client:
    # client_secret_basic is the default (RFC 6749 §2.3.1); post only if that is all it takes.
    methods = metadata.token_auth_methods or ("client_secret_basic",)
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return AsyncOAuth2Client(
        client_id=client.client_id,
        client_secret=client.client_secret,
        token_endpoint_auth_method=method,
        scope=" ".join(client.scopes),
        redirect_uri=client.redirect_uri,
        code_challenge_method="S256",
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
    )


def authorization_url(
    client: UpstreamClient, metadata: UpstreamMetadata, *, state: str, nonce: str, verifier: str
) -> str:
    oauth = _oauth_client(client, metadata)
    url, _ = oauth.create_authorization_url(
        metadata.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
    )
    return url


async def exchange_code(
    client: UpstreamClient, metadata: UpstreamMetadata, *, code: str, verifier: str
) -> dict[str, Any]:
    """The upstream's token response for `code` (with the PKCE verifier)."""
    try:
        async with _oauth_client(client, metadata) as oauth:
            token = await oauth.fetch_token(
                metadata.token_endpoint, code=code, code_verifier=verifier
            )
    except OAuthError as exc:
        raise UpstreamRefused(
            f"{client.name} refused to complete the sign-in. Start again.",
            detail=f"token endpoint: {exc.error}: {exc.description}",
        ) from exc
    except httpx.HTTPError as exc:
        raise _unavailable(client.name, f"token endpoint: {exc!r}") from exc
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not a token response
        raise _unavailable(client.name, f"token endpoint: unusable answer: {exc!r}") from exc
    if not isinstance(token.get("id_token"), str):
        raise UpstreamRefused(
            f"{client.name} did not send an ID token. Start again.",
            detail="token response without id_token",
        )
    return dict(token)


async def fetch_jwks(metadata: UpstreamMetadata, name: str) -> dict[str, Any]:
    document = await _get_json(metadata.jwks_uri, name)
    if not isinstance(document.get("keys"), list):
        raise _unavailable(name, "jwks: no keys")
    return document


async def fetch_userinfo(
    metadata: UpstreamMetadata, access_token: str, name: str
) -> dict[str, Any]:
    """Claims from the userinfo endpoint (used only when the ID token carries no email)."""
    if not metadata.userinfo_endpoint:
        return {}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
            answer = await http.get(
                metadata.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
            )
        document = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, json.JSONDecodeError) as exc:
        raise _unavailable(name, f"userinfo: {exc!r}") from exc
    if not isinstance(document, dict):
        raise _unavailable(name, f"userinfo: HTTP {answer.status_code}")
    return document
