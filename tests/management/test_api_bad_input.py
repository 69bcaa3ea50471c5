"""Malformed and hostile input to every Management API endpoint: unreadable or mistyped
bodies, unknown properties, oversized bodies, bad pagination, unknown ids, conflicts and odd
strings all get a 4xx in Auth0's {statusCode, error, message} shape — never a 5xx."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from provider.management.api.framework import Endpoint
from tests.management.helpers import (
    ENDPOINTS,
    assert_problem,
    call,
    concrete_path,
    endpoint_id,
    machine_client,
    token_for,
)
from tests.servers import ProviderServer, dispose, new_server
from tests.test_bad_input import BAD_BODIES

WITH_BODY = [e for e in ENDPOINTS if e.request_schema is not None]
OBJECT_BODY = [e for e in WITH_BODY if e.request_schema.get("type") == "object"]  # type: ignore[union-attr]
STRICT_BODY = [
    e
    for e in OBJECT_BODY
    if e.request_schema.get("additionalProperties") is False  # type: ignore[union-attr]
]
PAGED = [e for e in ENDPOINTS if any(name == "page" for name, _ in e.query)]
WITH_IDS = [e for e in ENDPOINTS if "{" in e.path]
OVER_LIMIT = 70 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    instance = new_server(tmp_path_factory.mktemp("mgmt-bad-input"))
    instance.start()
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def token(server: ProviderServer) -> str:
    return token_for(server, machine_client(server))


def _valid(endpoint: Endpoint) -> dict[str, Any]:
    """The required part of a body that passes the schema check."""
    required = {
        ("POST", "/users"): {"email": f"{uuid.uuid4().hex[:8]}@example.com"},
        ("POST", "/clients"): {"name": "x", "grant_types": ["client_credentials"]},
        ("PUT", "/guardian/factors/{name}"): {"enabled": True},
        ("POST", "/jobs/verification-email"): {"user_id": "nobody"},
        ("PATCH", "/clients/{id}"): {"name": "renamed"},
        ("POST", "/emails/provider"): {
            "credentials": {"smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_tls": "none"}
        },
        ("PATCH", "/users/{id}"): {"name": "renamed"},
        ("POST", "/connections"): {
            "name": f"conn-{uuid.uuid4().hex[:8]}",
            "options": {"issuer": "https://idp.example", "client_id": "a", "client_secret": "b"},
        },
        ("PATCH", "/connections/{id}"): {"display_name": "renamed"},
    }
    return dict(required.get((endpoint.method, endpoint.path), {}))


def _send(
    server: ProviderServer, endpoint: Endpoint, token: str, content: Any, content_type: str
) -> httpx.Response:
    return call(
        server,
        endpoint.method,
        concrete_path(endpoint),
        token,
        content=content,
        headers={"Content-Type": content_type},
    )


def _no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


# -- bodies ----------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", WITH_BODY, ids=endpoint_id)
@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_malformed_bodies_are_400(
    server: ProviderServer, token: str, endpoint: Endpoint, kind: str
) -> None:
    content_type, body = BAD_BODIES[kind]
    answer = _send(server, endpoint, token, body, content_type)
    if kind in ("json-nested-object", "json-list-value", "json-surrogate-key"):
        _no_5xx(answer)  # valid JSON: refused by the schema (or, for a lone key, as unknown)
        assert 400 <= answer.status_code < 500
        assert_problem(answer, answer.status_code)
    else:
        assert_problem(answer, 400)


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=endpoint_id)
def test_body_must_be_json_of_the_right_kind(
    server: ProviderServer, token: str, endpoint: Endpoint
) -> None:
    for content, content_type in (
        (b"null", "application/json"),
        (b"42", "application/json"),
        (b"true", "application/json"),
        (b'"text"', "application/json"),
        (
            b'{"a": 1}' if endpoint.request_schema.get("type") == "array" else b"[]",
            "application/json",
        ),  # type: ignore[union-attr]
        (b"{}", "text/plain"),
        (b"{}", "application/x-www-form-urlencoded"),
        (b"{}", ""),
        (b"{}{}", "application/json"),
        (b"{} trailing", "application/json"),
        (b'{"a": NaN}', "application/json"),
        (b'{"a": Infinity}', "application/json"),
    ):
        answer = _send(server, endpoint, token, content, content_type)
        if content == b"null" and endpoint.body_optional:
            _no_5xx(answer)  # JSON null is an absent optional body
            continue
        _no_5xx(answer)
        assert answer.status_code >= 400, (content, content_type, answer.text)
        assert_problem(answer, answer.status_code)


@pytest.mark.parametrize("endpoint", [e for e in WITH_BODY if not e.body_optional], ids=endpoint_id)
def test_a_missing_body_is_400(server: ProviderServer, token: str, endpoint: Endpoint) -> None:
    for content in (b"", b"   \n"):
        answer = _send(server, endpoint, token, content, "application/json")
        assert_problem(answer, 400, "body is required")


def _wrong_values(schema: dict[str, Any]) -> list[Any]:
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    candidates: list[Any] = ["text", 7, 1.5, True, None, [], {}, ["x"], [1]]
    wrong = []
    for value in candidates:
        fits = False
        for kind in kinds:
            if kind == "string" and isinstance(value, str):
                fits = "enum" not in schema or value in schema["enum"]
            elif kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
                fits = True
            elif kind == "boolean" and isinstance(value, bool):
                fits = True
            elif kind == "null" and value is None:
                fits = "enum" not in schema or None in schema["enum"]
            elif kind == "array" and isinstance(value, list):
                fits = all(isinstance(i, str) for i in value)
            elif kind == "object" and isinstance(value, dict):
                fits = True
        if not fits:
            wrong.append(value)
    return wrong


@pytest.mark.parametrize("endpoint", OBJECT_BODY, ids=endpoint_id)
def test_wrong_types_are_400_naming_the_property(
    server: ProviderServer, token: str, endpoint: Endpoint
) -> None:
    properties = endpoint.request_schema.get("properties", {})  # type: ignore[union-attr]
    if not properties:
        pytest.skip("free-form settings: checked by the factor (see the settings test)")
    checked = 0
    for name, schema in properties.items():
        for value in _wrong_values(schema):
            body = {**_valid(endpoint), name: value}
            answer = call(server, endpoint.method, concrete_path(endpoint), token, json=body)
            body_problem = assert_problem(answer, 400)
            assert name in body_problem["message"], (name, value, body_problem)
            checked += 1
    assert checked


@pytest.mark.parametrize("endpoint", STRICT_BODY, ids=endpoint_id)
def test_unknown_properties_are_400(server: ProviderServer, token: str, endpoint: Endpoint) -> None:
    for name in ("surprise", "__proto__", "", "x" * 5000, "\u0000"):
        body = {**_valid(endpoint), name: 1}
        answer = call(server, endpoint.method, concrete_path(endpoint), token, json=body)
        problem = assert_problem(answer, 400, "Additional properties not allowed")
        assert len(problem["message"]) < 300


def test_nested_credentials_are_checked_too(server: ProviderServer, token: str) -> None:
    call(server, "DELETE", "/emails/provider", token)  # whatever an earlier test left
    for credentials in (
        {"smtp_host": 5},
        {"smtp_port": "25"},
        {"smtp_port": True},
        {"smtp_tls": "ssl"},
        {"smtp_pass": ["a"]},
        {"unknown": "x"},
        "smtp://x",
        [],
    ):
        answer = call(server, "POST", "/emails/provider", token, json={"credentials": credentials})
        assert_problem(answer, 400)
    assert_problem(call(server, "GET", "/emails/provider", token), 404)  # nothing was saved


def test_factor_settings_reject_unknown_and_mistyped(server: ProviderServer, token: str) -> None:
    path = "/guardian/factors/email/settings"
    for body in (
        {"surprise": 1},
        {"code_lifetime": "300"},
        {"standalone": "yes"},
        {"code_lifetime": True},
    ):
        assert_problem(call(server, "PATCH", path, token, json=body), 400)
    for body in ([], "x", 1):
        assert_problem(call(server, "PATCH", path, token, json=body), 400)


def test_policies_body_must_be_one_of_two_lists(server: ProviderServer, token: str) -> None:
    for body in ({}, "all-applications", ["all-applications", "x"], [1], [None], [["x"]]):
        assert_problem(call(server, "PUT", "/guardian/policies", token, json=body), 400)


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=endpoint_id)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_bodies_are_413(
    server: ProviderServer, token: str, endpoint: Endpoint, chunked: bool
) -> None:
    body = json.dumps({"subject": "a" * OVER_LIMIT}).encode()

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    answer = _send(server, endpoint, token, pieces() if chunked else body, "application/json")
    assert_problem(answer, 413)


@pytest.mark.parametrize("endpoint", OBJECT_BODY, ids=endpoint_id)
def test_odd_strings_never_cause_a_5xx(
    server: ProviderServer, token: str, endpoint: Endpoint
) -> None:
    """Lone surrogates, NULs, control characters, huge and unicode strings in every string
    property: refused or stored, never a crash."""
    properties = endpoint.request_schema.get("properties", {})  # type: ignore[union-attr]
    strings = [name for name, s in properties.items() if "string" in str(s.get("type"))]
    odd = ["\ud800", "a\u0000b", "\x1b[31m", "😀" * 300, "x" * 60_000, " ", "{{ code }}", "é@é.é"]
    for name in strings:
        for value in odd:
            body = {**_valid(endpoint), name: value}
            raw = json.dumps(body, ensure_ascii=True).encode()
            answer = _send(server, endpoint, token, raw, "application/json")
            _no_5xx(answer)
            if answer.status_code >= 400:
                assert_problem(answer, answer.status_code)


def test_lone_surrogates_in_real_objects(server: ProviderServer, token: str) -> None:
    """The same odd strings against objects that exist (so the operations run to the store)."""
    user = call(server, "POST", "/users", token, json={"email": "odd@example.com"}).json()
    client = call(
        server,
        "POST",
        "/clients",
        token,
        json={"name": "odd", "grant_types": ["client_credentials"]},
    ).json()
    for value in ("\ud800", "\udfff@example.com", "a\u0000b@example.com"):
        raw = lambda body: json.dumps(body).encode()  # noqa: E731
        for method, path, body in (
            ("PATCH", f"/users/{user['user_id']}", {"name": value}),
            ("PATCH", f"/users/{user['user_id']}", {"email": value}),
            ("POST", "/users", {"email": value}),
            ("PATCH", f"/clients/{client['client_id']}", {"name": value}),
            ("POST", "/clients", {"name": value, "grant_types": ["client_credentials"]}),
            ("PATCH", "/email-templates/verify_email", {"subject": value}),
            ("POST", "/emails/provider/test", {"credentials": {"smtp_host": value}}),
            ("POST", "/jobs/verification-email", {"user_id": value}),
        ):
            answer = call(
                server,
                method,
                path,
                token,
                content=raw(body),
                headers={"Content-Type": "application/json"},
            )
            _no_5xx(answer)
    for path in (f"/users/{user['user_id']}", f"/clients/{client['client_id']}"):
        assert call(server, "GET", path, token).status_code == 200


# -- query strings ---------------------------------------------------------------------------
BAD_PAGES = [
    {"page": "-1"},
    {"page": "abc"},
    {"page": "1.5"},
    {"page": "1e3"},
    {"page": "1000001"},
    {"page": "9" * 5000},
    {"page": ""},
    {"per_page": "0"},
    {"per_page": "101"},
    {"per_page": "-5"},
    {"per_page": "ten"},
    {"include_totals": "yes"},
    {"include_totals": "1"},
    {"include_totals": "TRUE"},
    {"include_totals": ""},
]


@pytest.mark.parametrize("endpoint", PAGED, ids=endpoint_id)
def test_bad_pagination_is_400(server: ProviderServer, token: str, endpoint: Endpoint) -> None:
    for params in BAD_PAGES:
        answer = call(server, "GET", endpoint.path, token, params=params)
        assert_problem(answer, 400, "Query validation error")
    for params in ({"page": "0", "per_page": "1"}, {"per_page": "100", "include_totals": "false"}):
        assert call(server, "GET", endpoint.path, token, params=params).status_code == 200


def test_odd_search_queries(server: ProviderServer, token: str) -> None:
    for q in ("%", "_", "' OR 1=1 --", "\\", "a" * 10_000, "\u0000", "😀", "*", "email:x"):
        answer = call(server, "GET", "/users", token, params={"q": q})
        _no_5xx(answer)
        assert answer.status_code == 200, answer.text
        if q in ("%", "_", "' OR 1=1 --", "*"):
            assert answer.json() == [], (q, answer.json())  # no wildcard or injection matches


# -- ids -------------------------------------------------------------------------------------
ODD_IDS = [
    "nobody",
    "usr_00000000000000000000",
    "x" * 5000,
    "%2e%2e%2f%2e%2e%2fetc",
    "%00",
    "%F0%9F%98%80",
    "%ED%A0%80",
    "%FF%FE",
    "' OR '1'='1",
]


@pytest.mark.parametrize("endpoint", WITH_IDS, ids=endpoint_id)
def test_unknown_ids_are_404(server: ProviderServer, token: str, endpoint: Endpoint) -> None:
    body = _valid(endpoint) if endpoint.request_schema is not None else None
    if endpoint.request_schema is not None and endpoint.request_schema.get("type") == "array":
        body = []
    for odd in ODD_IDS:
        path = concrete_path(endpoint, id=odd, name=odd, template=odd, authenticator_id=odd)
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        answer = call(server, endpoint.method, path, token, **kwargs)
        _no_5xx(answer)
        assert_problem(answer, 404)


def test_unknown_authenticator_of_a_real_user_is_404(server: ProviderServer, token: str) -> None:
    user = call(server, "POST", "/users", token, json={"email": "authn@example.com"}).json()
    for odd in ODD_IDS:
        answer = call(server, "DELETE", f"/users/{user['user_id']}/authenticators/{odd}", token)
        assert_problem(answer, 404)


def test_unknown_routes_and_methods(server: ProviderServer, token: str) -> None:
    for path in ("/nonexistent", "/users/a/b/c", "/nope", "/users/%2e%2e%2fclients", "/"):
        assert_problem(call(server, "GET", path, token), 404)
    for method, path in (
        ("POST", "/guardian/factors"),
        ("PATCH", "/logs"),
        ("PUT", "/users/x"),
        ("POST", "/openapi.json"),
    ):
        answer = call(server, method, path, token, json={})
        assert_problem(answer, 405)
        assert answer.headers["allow"]
    assert "PATCH" in call(server, "PUT", "/users/x", token).headers["allow"]
    # outside /api/v2 the server's own shape is unchanged
    assert httpx.get(server.base_url + "/nope").json()["error"] == "not_found"


# -- conflicts -------------------------------------------------------------------------------
def test_duplicate_email_is_409(server: ProviderServer, token: str) -> None:
    first = call(server, "POST", "/users", token, json={"email": "twin@example.com"})
    assert first.status_code == 201, first.text
    for email in ("twin@example.com", "TWIN@example.com"):
        assert_problem(call(server, "POST", "/users", token, json={"email": email}), 409)
    other = call(server, "POST", "/users", token, json={"email": "other-twin@example.com"}).json()
    answer = call(
        server, "PATCH", f"/users/{other['user_id']}", token, json={"email": "Twin@Example.com"}
    )
    assert_problem(answer, 409)


def test_second_email_provider_is_409(server: ProviderServer, token: str) -> None:
    body = {"credentials": {"smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_tls": "none"}}
    call(server, "DELETE", "/emails/provider", token)  # whatever an earlier test left
    assert call(server, "POST", "/emails/provider", token, json=body).status_code == 201
    try:
        assert_problem(call(server, "POST", "/emails/provider", token, json=body), 409)
    finally:
        assert call(server, "DELETE", "/emails/provider", token).status_code == 204
    assert_problem(call(server, "POST", "/emails/provider", token, json={}), 400, "credentials")


def test_invalid_values_that_fit_the_types(server: ProviderServer, token: str) -> None:
    for body in (
        {"email": "no-at-sign"},
        {"email": "a@b.c", "password": "short"},
        {"email": "a@b.c", "connection": "google-oauth2"},
        {"email": "a@b.c", "name": "n" * 201},
        {"email": "x" * 400 + "@example.com"},
    ):
        assert_problem(call(server, "POST", "/users", token, json=body), 400)
    for body in (
        {"name": ""},
        {"name": "n" * 201, "grant_types": ["client_credentials"]},
        {"name": "x", "grant_types": ["password"]},  # not first-party
        {"name": "x", "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
        {"name": "x", "grant_types": ["client_credentials"], "api_scopes": ["two words"]},
        {"name": "x", "callbacks": ["/relative"]},
        {"name": "x", "grant_types": ["client_credentials"], "mfa_policy": "sometimes"},
        {
            "name": "x",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
        },
    ):
        assert_problem(call(server, "POST", "/clients", token, json=body), 400)
    for credentials in (
        {"smtp_host": "", "smtp_port": 25},
        {"smtp_host": "h", "smtp_port": 0},
        {"smtp_host": "h", "smtp_port": 65536},
        {"smtp_host": "h", "smtp_port": 10**30},
        {"smtp_host": "h" * 254},
    ):
        answer = call(
            server, "POST", "/emails/provider/test", token, json={"credentials": credentials}
        )
        assert_problem(answer, 400)


def test_unusable_smtp_hosts_are_400_not_a_crash_at_connect(server: ProviderServer) -> None:
    """Found by schemathesis: a host that cannot be IDNA-encoded reached the connect call."""
    token = token_for(server, machine_client(server, "update:email_provider create:email_provider"))
    for host in ("\x87", "a..b", "x" * 64 + ".example", "bad\u0000host", "\u0085host", "h\x7f"):
        credentials = {"smtp_host": host, "smtp_port": 2525, "smtp_tls": "none"}
        for method, path in (("POST", "/emails/provider/test"), ("POST", "/emails/provider")):
            answer = call(server, method, path, token, json={"credentials": credentials})
            assert_problem(answer, 400, "smtp_host")
