"""Shared helpers for the Management API tests: machine clients authorized with
`--api-scopes`, their tokens, calls under /api/v2, and Auth0's error shape."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import httpx

from provider.management.api.framework import Endpoint
from provider.management.api.routes import ENDPOINTS, PREFIX
from tests.servers import ProviderServer

PASSWORD = "password-123"
ALL = "all"


def audience(server: ProviderServer) -> str:
    return server.issuer + "api/v2/"


def machine_client(server: ProviderServer, api_scopes: str = ALL, name: str = "ops") -> dict:
    """A client_credentials client authorized for the Management API through the CLI."""
    return dict(
        server.cli_json(
            "clients",
            "create",
            "--name",
            name,
            "--grant-type",
            "client_credentials",
            "--api-scopes",
            api_scopes,
        )
    )


def token_response(
    server: ProviderServer, client: dict, aud: str | None = None, scope: str | None = None
) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "audience": aud or audience(server),
    }
    if scope is not None:
        data["scope"] = scope
    return httpx.post(server.base_url + "/oauth/token", data=data)


def token_for(server: ProviderServer, client: dict, **kw: Any) -> str:
    answer = token_response(server, client, **kw)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(
    server: ProviderServer, method: str, path: str, token: str | None = None, **kw: Any
) -> httpx.Response:
    headers = dict(kw.pop("headers", {}) or {})
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    return httpx.request(method, server.base_url + PREFIX + path, headers=headers, timeout=30, **kw)


def assert_problem(
    response: httpx.Response, status: int, message: str | None = None
) -> dict[str, Any]:
    """Auth0's error shape, with the given status and (optionally) a message fragment."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert body["statusCode"] == status, body
    assert body["error"] == HTTPStatus(status).phrase, body
    assert isinstance(body["message"], str) and body["message"], body
    assert set(body) <= {"statusCode", "error", "message", "errorCode"}, body
    assert "Traceback" not in response.text
    if message is not None:
        assert message.lower() in body["message"].lower(), body
    return body


def endpoint_id(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


def concrete_path(endpoint: Endpoint, **values: str) -> str:
    """The endpoint's path with each {param} filled (a harmless placeholder by default)."""
    defaults = {"name": "otp", "template": "mfa_oob_code", "id": "nobody"}
    return re.sub(
        r"{(\w+)}", lambda m: values.get(m.group(1), defaults.get(m.group(1), "x")), endpoint.path
    )


def minimal_body(endpoint: Endpoint) -> Any:
    """A body that passes the schema check (so auth is what decides the answer)."""
    if endpoint.request_schema is None:
        return None
    if endpoint.request_schema.get("type") == "array":
        return []
    return {}


__all__ = ["ENDPOINTS"]
