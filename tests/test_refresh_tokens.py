"""Refresh tokens against a real server: rotation on every use, family revocation on reuse,
narrower scopes, binding to the client, and revocation."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.oidc import BrowserClient, tokens_via_code_flow
from tests.servers import ProviderServer

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"
REDIRECT = "https://rp.example/callback"
FULL_SCOPE = "openid email offline_access"


def _confidential(server: ProviderServer, name: str = "web") -> tuple[str, str]:
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        name,
        "--first-party",
        "--redirect-uri",
        REDIRECT,
    )
    return created["client_id"], created["client_secret"]


def _family(
    server: ProviderServer, client_id: str, secret: str | None, scope: str = FULL_SCOPE
) -> dict[str, Any]:
    """A fresh sign-in (new browser, new session) and the token response it ends with."""
    browser = BrowserClient(server.base_url)
    try:
        return tokens_via_code_flow(
            browser,
            DEMO_EMAIL,
            DEMO_PASSWORD,
            client_id=client_id,
            redirect_uri=REDIRECT,
            scope=scope,
            client_secret=secret,
        )
    finally:
        browser.close()


def _refresh(
    server: ProviderServer,
    refresh_token: str,
    client_id: str,
    secret: str | None,
    scope: str | None = None,
) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if secret is not None:
        form["client_secret"] = secret
    if scope is not None:
        form["scope"] = scope
    return httpx.post(server.base_url + "/oauth/token", data=form)


def _introspect(server: ProviderServer, token: str, client_id: str, secret: str) -> dict[str, Any]:
    answer = httpx.post(
        server.base_url + "/oauth/introspect",
        data={
            "token": token,
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _userinfo(server: ProviderServer, access_token: str) -> httpx.Response:
    return httpx.get(
        server.base_url + "/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    )


def _assert_invalid_grant(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"
    assert "access_token" not in answer.json()


def test_refresh_rotates_on_every_use(server: ProviderServer) -> None:
    """Each refresh returns a new refresh token and access token; the used one is refused."""
    client_id, secret = _confidential(server)
    first = _family(server, client_id, secret)
    rt0 = first["refresh_token"]

    answer = _refresh(server, rt0, client_id, secret)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    second = answer.json()
    assert second["token_type"] == "Bearer"
    assert set(second["scope"].split()) == set(FULL_SCOPE.split())
    rt1 = second["refresh_token"]
    assert rt1 != rt0
    assert second["access_token"] != first["access_token"]
    info = _userinfo(server, second["access_token"])
    assert info.status_code == 200
    assert info.json()["email"] == DEMO_EMAIL

    answer = _refresh(server, rt1, client_id, secret)
    assert answer.status_code == 200, answer.text
    rt2 = answer.json()["refresh_token"]
    assert rt2 not in (rt0, rt1)

    _assert_invalid_grant(_refresh(server, rt0, client_id, secret))


def test_reuse_of_rotated_token_revokes_the_family(server: ProviderServer) -> None:
    """Presenting a rotated refresh token kills the newest refresh token of its family and the
    family's access tokens (introspection inactive, userinfo 401)."""
    client_id, secret = _confidential(server)
    first = _family(server, client_id, secret)
    rt0 = first["refresh_token"]
    step1 = _refresh(server, rt0, client_id, secret).json()
    step2 = _refresh(server, step1["refresh_token"], client_id, secret).json()
    newest_rt, newest_at = step2["refresh_token"], step2["access_token"]
    assert _introspect(server, newest_at, client_id, secret)["active"] is True
    assert _introspect(server, newest_rt, client_id, secret)["active"] is True
    assert _userinfo(server, newest_at).status_code == 200

    _assert_invalid_grant(_refresh(server, step1["refresh_token"], client_id, secret))

    _assert_invalid_grant(_refresh(server, newest_rt, client_id, secret))
    assert _introspect(server, newest_at, client_id, secret) == {"active": False}
    assert _introspect(server, newest_rt, client_id, secret) == {"active": False}
    assert _introspect(server, first["access_token"], client_id, secret) == {"active": False}
    info = _userinfo(server, newest_at)
    assert info.status_code == 401
    assert info.json()["error"] == "invalid_token"
    assert "invalid_token" in info.headers["www-authenticate"]


def test_reuse_revokes_only_its_own_family(server: ProviderServer) -> None:
    """Another sign-in of the same user with the same client keeps working after a reuse."""
    client_id, secret = _confidential(server)
    victim = _family(server, client_id, secret)
    bystander = _family(server, client_id, secret)
    _refresh(server, victim["refresh_token"], client_id, secret)
    _assert_invalid_grant(_refresh(server, victim["refresh_token"], client_id, secret))

    assert _introspect(server, bystander["access_token"], client_id, secret)["active"] is True
    assert _userinfo(server, bystander["access_token"]).status_code == 200
    answer = _refresh(server, bystander["refresh_token"], client_id, secret)
    assert answer.status_code == 200, answer.text


def test_concurrent_use_of_one_refresh_token_succeeds_at_most_once(server: ProviderServer) -> None:
    """Racing requests with the same refresh token: one wins, the rest get invalid_grant, and
    the family ends up revoked (the losers count as reuse)."""
    client_id, secret = _confidential(server)
    rt = _family(server, client_id, secret)["refresh_token"]
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        answer = _refresh(server, rt, client_id, secret)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [a for a in answers if a.status_code == 200]
    assert len(winners) == 1, [a.text for a in answers]
    for loser in (a for a in answers if a.status_code != 200):
        _assert_invalid_grant(loser)
    _assert_invalid_grant(_refresh(server, winners[0].json()["refresh_token"], client_id, secret))


def test_refresh_with_narrower_scope(server: ProviderServer) -> None:
    """A refresh may ask for less than was granted; the access token carries only that, and a
    later refresh without scope gets the original grant back. More than granted is refused."""
    client_id, secret = _confidential(server)
    rt = _family(server, client_id, secret)["refresh_token"]

    answer = _refresh(server, rt, client_id, secret, scope="openid offline_access")
    assert answer.status_code == 200, answer.text
    narrow = answer.json()
    assert narrow["scope"] == "openid offline_access"
    claims = httpx.post(
        server.base_url + "/oauth/introspect",
        data={
            "token": narrow["access_token"],
            "client_id": client_id,
            "client_secret": secret,
        },
    ).json()
    assert claims["active"] is True
    assert claims["scope"] == "openid offline_access"
    info = _userinfo(server, narrow["access_token"])
    assert info.status_code == 200
    assert "email" not in info.json()

    wider = _refresh(server, narrow["refresh_token"], client_id, secret, scope="openid profile")
    assert wider.status_code == 400, wider.text
    assert wider.json()["error"] == "invalid_scope"

    # The refused request did not consume the token; omitting scope means the original grant.
    answer = _refresh(server, narrow["refresh_token"], client_id, secret)
    assert answer.status_code == 200, answer.text
    again = answer.json()
    assert set(again["scope"].split()) == set(FULL_SCOPE.split())
    assert _userinfo(server, again["access_token"]).json()["email"] == DEMO_EMAIL


def test_refresh_with_openid_only_scope(server: ProviderServer) -> None:
    """Narrowing to a scope without offline_access still yields an access token of that
    scope only."""
    client_id, secret = _confidential(server)
    rt = _family(server, client_id, secret)["refresh_token"]
    answer = _refresh(server, rt, client_id, secret, scope="openid")
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "openid"
    claims = _introspect(server, answer.json()["access_token"], client_id, secret)
    assert claims["scope"] == "openid"


def test_refresh_by_a_different_client_is_refused(server: ProviderServer) -> None:
    """A refresh token is bound to its client: another authenticated client gets invalid_grant,
    and the attempt does not consume the owner's token."""
    owner_id, owner_secret = _confidential(server, "owner")
    other_id, other_secret = _confidential(server, "other")
    rt = _family(server, owner_id, owner_secret)["refresh_token"]

    _assert_invalid_grant(_refresh(server, rt, other_id, other_secret))

    answer = _refresh(server, rt, owner_id, owner_secret)
    assert answer.status_code == 200, answer.text


def test_confidential_client_must_authenticate_to_refresh(server: ProviderServer) -> None:
    """No secret or a wrong secret: 401 invalid_client, and the token stays usable."""
    client_id, secret = _confidential(server)
    rt = _family(server, client_id, secret)["refresh_token"]
    for attempt in (None, secret + "x"):
        answer = _refresh(server, rt, client_id, attempt)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_client"
    assert _refresh(server, rt, client_id, secret).status_code == 200


def test_revoked_family_is_refused(server: ProviderServer) -> None:
    """After the client revokes its refresh token, the token no longer refreshes and the
    family's access token is inactive."""
    client_id, secret = _confidential(server)
    tokens = _family(server, client_id, secret)
    answer = httpx.post(
        server.base_url + "/oauth/revoke",
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert answer.status_code == 200, answer.text

    _assert_invalid_grant(_refresh(server, tokens["refresh_token"], client_id, secret))
    assert _introspect(server, tokens["access_token"], client_id, secret) == {"active": False}
    assert _userinfo(server, tokens["access_token"]).status_code == 401


def test_public_client_refreshes_with_rotation(server: ProviderServer) -> None:
    """A public client refreshes with its client_id alone, and rotation applies to it too."""
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "spa",
        "--public",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
    )
    client_id = created["client_id"]
    rt0 = _family(server, client_id, None)["refresh_token"]
    answer = _refresh(server, rt0, client_id, None)
    assert answer.status_code == 200, answer.text
    rt1 = answer.json()["refresh_token"]
    assert rt1 != rt0
    _assert_invalid_grant(_refresh(server, rt0, client_id, None))
    _assert_invalid_grant(_refresh(server, rt1, client_id, None))  # the family is gone


def test_refresh_token_needs_offline_access_and_the_grant(server: ProviderServer) -> None:
    """No refresh token without offline_access, nor for a client lacking the refresh_token
    grant; an unknown refresh token is refused."""
    client_id, secret = _confidential(server)
    assert "refresh_token" not in _family(server, client_id, secret, scope="openid email")

    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "no-refresh",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        "--grant-type",
        "authorization_code",
    )
    tokens = _family(server, created["client_id"], created["client_secret"])
    assert "refresh_token" not in tokens
    assert "access_token" in tokens

    _assert_invalid_grant(_refresh(server, "not-a-real-refresh-token", client_id, secret))
