"""Connections through the Management API, against a real upstream provider instance: a
connection created by the API is offered on the sign-in page and signs a user in; switching it
off hides it and refuses it; the client secret is write-only and sealed at rest; bad input and
unknown ids are refused in Auth0's error shape; every change is in the audit log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.federation_flow import (
    continue_with,
    federated_sign_in,
    login_page,
    open_sites,
    upstream_client,
    upstream_user,
)
from tests.management.helpers import assert_problem, call, machine_client, token_for
from tests.servers import ProviderServer, dispose, new_server


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    server = new_server(tmp_path_factory.mktemp("upstream") / "data")
    server.start()
    yield server
    dispose(server)


@pytest.fixture(scope="module")
def downstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    server = new_server(tmp_path_factory.mktemp("downstream") / "data")
    server.start()
    yield server
    dispose(server)


@pytest.fixture(scope="module")
def token(downstream: ProviderServer) -> str:
    return token_for(downstream, machine_client(downstream))


def _create(
    downstream: ProviderServer, upstream: ProviderServer, token: str, name: str
) -> tuple[dict, dict]:
    client = upstream_client(upstream, downstream, "--first-party")
    answer = call(
        downstream,
        "POST",
        "/connections",
        token,
        json={
            "name": name,
            "strategy": "oidc",
            "display_name": f"Corp {name}",
            "options": {
                "issuer": upstream.issuer,
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "scopes": ["email"],
                "trust_email_verified": True,
            },
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json(), client


def _rp(downstream: ProviderServer) -> str:
    return downstream.cli_json(
        "clients", "create", "--name", "rp", "--public", "--first-party",
        "--redirect-uri", "https://rp.example/cb",
    )["client_id"]  # fmt: skip


def test_a_connection_made_by_the_api_signs_users_in(
    downstream: ProviderServer, upstream: ProviderServer, token: str
) -> None:
    created, client = _create(downstream, upstream, token, "corp")
    assert created["callback_url"] == downstream.issuer + "login/callback"
    assert created["options"]["scopes"] == ["openid", "email"]
    assert "client_secret" not in created["options"]
    fetched = call(downstream, "GET", f"/connections/{created['id']}", token)
    assert fetched.status_code == 200 and fetched.json() == created
    listed = call(downstream, "GET", "/connections", token).json()
    assert [c["name"] for c in listed] == ["corp"]

    upstream_user(upstream, "fed-api@example.com", verified=True)
    rp = _rp(downstream)
    sites = open_sites(downstream, upstream)
    try:
        page = login_page(sites, rp)
        assert "Continue with Corp corp" in page.text
        landed = federated_sign_in(sites, rp, "corp", "fed-api@example.com")
        assert landed.status_code == 302, landed.text[:300]
        assert landed.headers["location"].startswith("https://rp.example/cb?code=")
    finally:
        sites.close()

    # The secret is sealed at rest: the plain value is nowhere in the database file.
    if not downstream.database_url:
        raw = (downstream.data_dir / "provider.db").read_bytes()
        assert client["client_secret"].encode() not in raw
        with sqlite3.connect(downstream.data_dir / "provider.db") as db:
            (sealed,) = db.execute(
                "SELECT client_secret_sealed FROM connections WHERE id = ?", (created["id"],)
            ).fetchone()
        assert sealed and client["client_secret"] not in sealed


def test_switching_a_connection_off_hides_and_refuses_it(
    downstream: ProviderServer, upstream: ProviderServer, token: str
) -> None:
    created, _ = _create(downstream, upstream, token, "offline")
    rp = _rp(downstream)
    off = call(downstream, "PATCH", f"/connections/{created['id']}", token, json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    sites = open_sites(downstream, upstream)
    try:
        page = login_page(sites, rp)
        assert "Continue with Corp offline" not in page.text
        refused = continue_with(sites, page, "offline")
        assert refused.status_code >= 400 and "location" not in refused.headers
    finally:
        sites.close()
    renamed = call(
        downstream,
        "PATCH",
        f"/connections/{created['id']}",
        token,
        json={"display_name": "Renamed", "enabled": True, "options": {"client_secret": "new"}},
    )
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "Renamed"
    assert "client_secret" not in renamed.json()["options"]


def test_bad_connection_input_is_refused(
    downstream: ProviderServer, upstream: ProviderServer, token: str
) -> None:
    created, _ = _create(downstream, upstream, token, "dupe")
    options = {"issuer": upstream.issuer, "client_id": "c", "client_secret": "s"}
    cases = [
        ({"name": "dupe", "options": options}, 409),
        ({"name": "Bad Name", "options": options}, 400),
        ({"name": "x1", "options": {**options, "issuer": "http://idp.example/"}}, 400),
        ({"name": "x2", "options": {**options, "issuer": "https://idp.example/?q=1"}}, 400),
        ({"name": "x3", "options": {"issuer": upstream.issuer}}, 400),
        ({"name": "x4", "options": {**options, "scopes": ["two words"]}}, 400),
        ({"name": "x5", "options": {**options, "client_secret": 7}}, 400),
        ({"name": "x6", "options": options, "unknown": 1}, 400),
        ({"name": "x7", "strategy": "saml", "options": options}, 400),
    ]
    for body, status in cases:
        assert_problem(call(downstream, "POST", "/connections", token, json=body), status)
    assert_problem(
        call(downstream, "PATCH", f"/connections/{created['id']}", token,
             json={"options": {"issuer": "https://elsewhere.example/"}}),
        400,
    )  # fmt: skip
    assert_problem(
        call(downstream, "PATCH", f"/connections/{created['id']}", token, json={"enabled": "no"}),
        400,
    )
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"enabled": True}} if method == "PATCH" else {}
        assert_problem(call(downstream, method, "/connections/con_nope", token, **kwargs), 404)


def test_deleting_a_connection_is_audited(
    downstream: ProviderServer, upstream: ProviderServer, token: str
) -> None:
    created, _ = _create(downstream, upstream, token, "gone")
    assert call(downstream, "DELETE", f"/connections/{created['id']}", token).status_code == 204
    assert_problem(call(downstream, "GET", f"/connections/{created['id']}", token), 404)
    logs = call(downstream, "GET", "/logs?per_page=100", token).json()
    mine = [e for e in logs if e["target"] == created["id"]]
    assert {e["action"] for e in mine} == {"connection.create", "connection.delete"}
    assert all(e["actor"].startswith("client:") for e in mine)
