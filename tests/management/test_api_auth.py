"""Who may call the Management API: every endpoint (parametrized over the ENDPOINTS table
itself) refuses a missing token, a token for another audience, a user's token and garbage
Authorization headers with 401, and a Management token without the endpoint's scope with 403
naming the scope — all in Auth0's {statusCode, error, message} shape. `--api-scopes` on the CLI
grants exactly what it lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from provider.management.api.framework import Endpoint
from provider.management.scopes import MANAGEMENT_SCOPES
from tests.management.helpers import (
    ENDPOINTS,
    PASSWORD,
    assert_problem,
    audience,
    call,
    concrete_path,
    endpoint_id,
    machine_client,
    minimal_body,
    token_for,
)
from tests.servers import ProviderServer, dispose, new_server
from tests.test_bad_input import GARBAGE_AUTH

OTHER_API = "https://api.example/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    instance = new_server(tmp_path_factory.mktemp("mgmt-auth"))
    instance.start()
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def ops(server: ProviderServer) -> dict:
    return machine_client(server)


@pytest.fixture(scope="module")
def all_token(server: ProviderServer, ops: dict) -> str:
    return token_for(server, ops)


@pytest.fixture(scope="module")
def lacking(server: ProviderServer, all_token: str) -> Iterator[dict[str, str]]:
    """scope → a Management token holding every scope but that one (clients made via the API)."""
    cache: dict[str, str] = {}

    class Lacking(dict):  # type: ignore[type-arg]
        def __missing__(self, scope: str) -> str:
            created = call(
                server,
                "POST",
                "/clients",
                all_token,
                json={
                    "name": f"without {scope}",
                    "grant_types": ["client_credentials"],
                    "api_audiences": [audience(server)],
                    "api_scopes": [s for s in MANAGEMENT_SCOPES if s != scope],
                },
            )
            assert created.status_code == 201, created.text
            self[scope] = token_for(server, created.json())
            return self[scope]

    yield Lacking(cache)


@pytest.fixture(scope="module")
def user_email(server: ProviderServer) -> str:
    email = "auth-user@example.com"
    server.cli_json("users", "create", "--email", email, "--password", PASSWORD, "--email-verified")
    return email


def _password_token(server: ProviderServer, email: str, *extra: str, **params: str) -> str:
    app = server.cli_json(
        "clients",
        "create",
        "--name",
        "first-party app",
        "--first-party",
        "--grant-type",
        "password",
        "--mfa-policy",
        "never",
        *extra,
    )
    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": email,
            "password": PASSWORD,
            **params,
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def user_token(server: ProviderServer, user_email: str) -> str:
    """A signed-in user's access token (for /userinfo)."""
    return _password_token(server, user_email, scope="openid email")


@pytest.fixture(scope="module")
def other_api_token(server: ProviderServer) -> str:
    """A client_credentials token for some other API, with scopes named like Management ones."""
    client = server.cli_json(
        "clients",
        "create",
        "--name",
        "other api",
        "--grant-type",
        "client_credentials",
        "--audience",
        OTHER_API,
        *[arg for scope in MANAGEMENT_SCOPES for arg in ("--scope", scope)],
    )
    return token_for(server, client, aud=OTHER_API)


def _request(
    server: ProviderServer, endpoint: Endpoint, token: str | None, **kw: Any
) -> httpx.Response:
    body = minimal_body(endpoint)
    if body is not None:
        kw.setdefault("json", body)
    return call(server, endpoint.method, concrete_path(endpoint), token, **kw)


PARAMS = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)


def test_the_table_is_not_empty_and_every_scope_is_a_management_scope() -> None:
    assert len(ENDPOINTS) >= 28
    assert {e.scope for e in ENDPOINTS} <= set(MANAGEMENT_SCOPES)


@PARAMS
def test_no_token_is_401(server: ProviderServer, endpoint: Endpoint) -> None:
    answer = _request(server, endpoint, None)
    body = assert_problem(answer, 401)
    assert body.get("errorCode") == "missing_token"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["cache-control"] == "no-store"


@PARAMS
def test_token_for_another_audience_is_401(
    server: ProviderServer, endpoint: Endpoint, other_api_token: str
) -> None:
    assert_problem(_request(server, endpoint, other_api_token), 401, "audience")


@PARAMS
def test_a_users_access_token_is_401(
    server: ProviderServer, endpoint: Endpoint, user_token: str
) -> None:
    assert (
        httpx.get(
            server.base_url + "/userinfo", headers={"Authorization": f"Bearer {user_token}"}
        ).status_code
        == 200
    )
    assert_problem(_request(server, endpoint, user_token), 401)


@PARAMS
def test_a_management_token_without_the_scope_is_403_naming_it(
    server: ProviderServer, endpoint: Endpoint, lacking: dict[str, str]
) -> None:
    body = assert_problem(_request(server, endpoint, lacking[endpoint.scope]), 403)
    assert body["message"] == f"Insufficient scope, expected: {endpoint.scope}"
    assert body["errorCode"] == "insufficient_scope"


@PARAMS
def test_garbage_authorization_headers_are_401(server: ProviderServer, endpoint: Endpoint) -> None:
    for header in GARBAGE_AUTH:
        answer = _request(server, endpoint, None, headers={"Authorization": header})
        assert_problem(answer, 401)


@PARAMS
def test_a_tampered_or_foreign_signature_is_401(
    server: ProviderServer, endpoint: Endpoint, all_token: str
) -> None:
    head, payload, signature = all_token.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    for token in (f"{head}.{payload}.{flipped}", f"{head}.{payload}.", all_token + "x"):
        assert_problem(_request(server, endpoint, token), 401, "invalid token")


@PARAMS
def test_the_all_scopes_token_gets_past_auth(
    server: ProviderServer, endpoint: Endpoint, all_token: str
) -> None:
    """The control: the same request with the right token is not refused for auth."""
    answer = _request(server, endpoint, all_token)
    assert answer.status_code not in (401, 403), answer.text
    assert answer.status_code < 500, answer.text


def test_a_users_token_for_the_management_audience_is_refused(
    server: ProviderServer, user_email: str
) -> None:
    """Management tokens come from client_credentials only: a user's token issued by a
    password-grant client that lists the Management audience and a scope does not act as
    that client."""
    token = _password_token(
        server,
        user_email,
        "--audience",
        audience(server),
        "--scope",
        "read:users",
        audience=audience(server),
        scope="read:users",
    )
    assert_problem(call(server, "GET", "/users", token), 401)


def test_the_bearer_scheme_is_case_insensitive(server: ProviderServer, all_token: str) -> None:
    answer = call(
        server, "GET", "/guardian/factors", headers={"Authorization": f"bearer {all_token}"}
    )
    assert answer.status_code == 200, answer.text


def test_token_of_a_deleted_client_is_401(server: ProviderServer, all_token: str) -> None:
    doomed = machine_client(server, "read:users", name="doomed")
    token = token_for(server, doomed)
    assert call(server, "GET", "/users", token).status_code == 200
    deleted = call(server, "DELETE", f"/clients/{doomed['client_id']}", all_token)
    assert deleted.status_code == 204, deleted.text
    assert_problem(call(server, "GET", "/users", token), 401, "no longer exists")
    # 401 before 403: even where it never had the scope, the token is simply invalid now.
    assert_problem(call(server, "GET", "/clients", token), 401, "no longer exists")


# -- --api-scopes --------------------------------------------------------------------------
def test_api_scopes_all_grants_every_management_scope(server: ProviderServer, ops: dict) -> None:
    assert ops["audiences"] == [audience(server)]
    assert ops["scopes"] == list(MANAGEMENT_SCOPES)
    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ops["client_id"],
            "client_secret": ops["client_secret"],
            "audience": audience(server),
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"].split() == list(MANAGEMENT_SCOPES)


def test_api_scopes_subset_yields_exactly_that_scope(server: ProviderServer) -> None:
    client = machine_client(server, "read:users read:logs", name="auditor")
    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "audience": audience(server),
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "read:users read:logs"
    token = answer.json()["access_token"]
    assert call(server, "GET", "/users", token).status_code == 200
    assert call(server, "GET", "/logs", token).status_code == 200
    assert_problem(call(server, "GET", "/clients", token), 403, "read:clients")
    # Asking for less narrows the token; asking for more than granted is refused.
    narrowed = token_for(server, client, scope="read:logs")
    assert_problem(call(server, "GET", "/users", narrowed), 403, "read:users")
    wider = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "audience": audience(server),
            "scope": "read:users delete:users",
        },
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope", wider.text


def _one_line_error(result: Any, fragment: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_api_scopes_need_client_credentials(server: ProviderServer) -> None:
    result = server.cli(
        "clients",
        "create",
        "--name",
        "web",
        "--redirect-uri",
        "https://rp.example/cb",
        "--api-scopes",
        "all",
        check=False,
    )
    _one_line_error(result, "client_credentials")


def test_api_scopes_refuse_unknown_scopes(server: ProviderServer) -> None:
    for scopes in ("read:users delete:everything", "all read:users", "READ:USERS"):
        result = server.cli(
            "clients",
            "create",
            "--name",
            "bad",
            "--grant-type",
            "client_credentials",
            "--api-scopes",
            scopes,
            check=False,
        )
        _one_line_error(result, "unknown Management API scope")


def test_nothing_is_created_by_a_refused_cli_command(server: ProviderServer) -> None:
    names = {c["name"] for c in server.cli_json("clients", "list")}
    assert "bad" not in names and "web" not in names
