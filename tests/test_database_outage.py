"""A database outage (PostgreSQL refusing connections, as during a restart): the server answers
503 temporarily_unavailable instead of a 500, loses nothing, and recovers by itself."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.oidc import BrowserClient, pkce_pair
from tests.servers import POSTGRES_URL, ProviderServer, public_client

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs PROVIDER_TEST_DATABASE_URL")
REDIRECT = "https://rp.example/cb"


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _cut_off(database: str, allowed: bool) -> None:
    """Refuse (or allow again) new connections to the database and end the open ones."""
    asyncio.run(_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
    if not allowed:
        asyncio.run(
            _admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            )
        )


def _refresh_token(server: ProviderServer) -> tuple[str, str]:
    client_id = public_client(server, REDIRECT, name="o")
    verifier, challenge = pkce_pair()
    browser = BrowserClient(server.base_url)
    result = browser.sign_in(
        "demo@example.com",
        "demo-password",
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT,
        scope="openid offline_access",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    tokens = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    ).json()
    return client_id, tokens["refresh_token"]


def test_outage_answers_503_and_recovers_without_losing_tokens(server: ProviderServer) -> None:
    client_id, refresh = _refresh_token(server)
    database = server.database_url.rsplit("/", 1)[1]
    _cut_off(database, allowed=False)
    try:
        answer = httpx.post(
            server.base_url + "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": client_id,
            },
        )
        assert answer.status_code == 503
        assert answer.json()["error"] == "temporarily_unavailable"
        assert answer.headers["retry-after"]
        assert "Traceback" not in answer.text
    finally:
        _cut_off(database, allowed=True)

    # Back without an operator: the refresh token issued before the outage still works.
    deadline = time.monotonic() + 20
    while True:
        answer = httpx.post(
            server.base_url + "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": client_id,
            },
        )
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["refresh_token"] != refresh
