"""Single use under concurrency: the same authorization code or refresh token sent by many
parallel requests to a real server is honoured at most once, and the race counts as reuse."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from tests.oidc import BrowserClient, pkce_pair
from tests.servers import ProviderServer

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"
REDIRECT = "https://rp.example/callback"
PARALLEL = 10


def _client(server: ProviderServer) -> tuple[str, str]:
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "racer",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
    )
    return created["client_id"], created["client_secret"]


def _code(server: ProviderServer, client_id: str, challenge: str) -> str:
    browser = BrowserClient(server.base_url)
    try:
        result = browser.sign_in(
            DEMO_EMAIL,
            DEMO_PASSWORD,
            response_type="code",
            client_id=client_id,
            redirect_uri=REDIRECT,
            scope="openid offline_access",
            state="s",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    finally:
        browser.close()
    return result.params["code"]


def _race(server: ProviderServer, data: dict[str, str]) -> list[httpx.Response]:
    """POST the same token request from PARALLEL threads released at the same instant."""
    barrier = threading.Barrier(PARALLEL)
    answers: list[httpx.Response | BaseException] = [RuntimeError("not run")] * PARALLEL
    # One connection per thread, opened before the barrier, so the requests truly overlap.
    clients = [httpx.Client(base_url=server.base_url, timeout=60) for _ in range(PARALLEL)]
    for client in clients:
        client.get("/healthz")

    def worker(index: int) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(timeout=30)
                answers[index] = clients[index].post("/oauth/token", data=data)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                answers[index] = exc

        return run

    threads = [threading.Thread(target=worker(i)) for i in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    for client in clients:
        client.close()
    responses = [a for a in answers if isinstance(a, httpx.Response)]
    assert len(responses) == PARALLEL, [a for a in answers if not isinstance(a, httpx.Response)]
    return responses


def _assert_losers_are_invalid_grant(responses: list[httpx.Response]) -> None:
    for response in responses:
        if response.status_code != 200:
            assert response.status_code == 400, (response.status_code, response.text)
            assert response.json()["error"] == "invalid_grant", response.text


def test_parallel_code_exchange_succeeds_exactly_once(server: ProviderServer) -> None:
    """Ten simultaneous exchanges of one code: exactly one 200, the rest invalid_grant, and the
    replay revokes what the winner got."""
    client_id, secret = _client(server)
    verifier, challenge = pkce_pair()
    code = _code(server, client_id, challenge)
    responses = _race(
        server,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [(r.status_code, r.text[:120]) for r in responses]
    _assert_losers_are_invalid_grant(responses)

    issued = winners[0].json()
    refreshed = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued["refresh_token"],
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    info = httpx.get(
        server.base_url + "/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert info.status_code == 401


def test_parallel_refresh_succeeds_at_most_once_and_revokes_family(
    server: ProviderServer,
) -> None:
    """Ten simultaneous uses of one refresh token: at most one 200; the race is reuse, so the
    family ends revoked and even the winner's new refresh token is refused."""
    client_id, secret = _client(server)
    verifier, challenge = pkce_pair()
    code = _code(server, client_id, challenge)
    first = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]
    access = first.json()["access_token"]

    responses = _race(
        server,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) <= 1, [(r.status_code, r.text[:120]) for r in responses]
    assert len(winners) < PARALLEL
    _assert_losers_are_invalid_grant(responses)

    for token in [refresh] + [w.json()["refresh_token"] for w in winners]:
        again = httpx.post(
            server.base_url + "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    for bearer in [access] + [w.json()["access_token"] for w in winners]:
        info = httpx.get(
            server.base_url + "/userinfo", headers={"Authorization": f"Bearer {bearer}"}
        )
        assert info.status_code == 401, info.text
    seen = httpx.post(
        server.base_url + "/oauth/introspect", data={"token": refresh}, auth=(client_id, secret)
    )
    assert seen.status_code == 200 and seen.json()["active"] is False
