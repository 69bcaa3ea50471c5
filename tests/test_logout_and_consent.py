"""RP-initiated logout (/oidc/logout, /v2/logout), third-party consent, and the prompt /
max_age parameters of the authorization endpoint, through the hosted pages of a real server."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.oidc import BrowserClient, decode_verified, hidden_fields, pkce_pair
from tests.servers import ProviderServer

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"
REDIRECT = "https://rp.example/callback"
LOGOUT = "https://rp.example/logged-out"
OTHER_LOGOUT = "https://other.example/bye"


def _client(
    server: ProviderServer, *, first_party: bool = True, name: str = "web"
) -> tuple[str, str]:
    args = ["clients", "create", "--name", name, "--redirect-uri", REDIRECT, "--logout-uri", LOGOUT]
    if first_party:
        args.append("--first-party")
    created = server.cli_json(*args)
    return created["client_id"], created["client_secret"]


def _authorize(browser: BrowserClient, client_id: str, **extra: str) -> tuple[httpx.Response, str]:
    """Start an authorization and follow it while it stays on the provider."""
    _, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return browser.follow_local(browser.start(**params)), state


def _is_login_page(response: httpx.Response) -> bool:
    return response.status_code == 200 and 'action="/login"' in response.text


def _is_consent_page(response: httpx.Response) -> bool:
    return response.status_code == 200 and 'action="/consent"' in response.text


def _single(location: str) -> dict[str, str]:
    """Query parameters of a redirect, each required to appear exactly once."""
    parsed = parse_qs(urlsplit(location).query)
    assert all(len(v) == 1 for v in parsed.values()), location
    return {k: v[0] for k, v in parsed.items()}


def _assert_code(server: ProviderServer, response: httpx.Response, state: str) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    params = _single(location)
    assert params["state"] == state
    assert params["iss"] == server.issuer
    assert "code" in params and "error" not in params
    return params


def _assert_error(server: ProviderServer, response: httpx.Response, state: str, error: str) -> None:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    params = _single(location)
    assert params["error"] == error
    assert params["state"] == state
    assert params["iss"] == server.issuer
    assert "code" not in params


def _signed_in(
    server: ProviderServer,
    client_id: str,
    secret: str,
    email: str = DEMO_EMAIL,
    password: str = DEMO_PASSWORD,
) -> tuple[BrowserClient, dict[str, Any]]:
    """A browser with a session, and the tokens (incl. an ID token) of its sign-in."""
    browser = BrowserClient(server.base_url)
    verifier, challenge = pkce_pair()
    result = browser.sign_in(
        email,
        password,
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT,
        scope="openid email",
        state="s",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    return browser, answer.json()


def _session_alive(server: ProviderServer, browser: BrowserClient, client_id: str) -> bool:
    """prompt=none answers with a code while the session lives, login_required after."""
    response, state = _authorize(browser, client_id, prompt="none")
    assert response.status_code == 302, response.text[:300]
    params = _single(response.headers["location"])
    assert params["state"] == state and params["iss"] == server.issuer
    if "code" in params:
        return True
    assert params["error"] == "login_required", params
    return False


# -- logout -----------------------------------------------------------------------------------


def test_logout_with_id_token_hint_redirects_and_ends_the_session(server: ProviderServer) -> None:
    """A valid id_token_hint and a registered post_logout_redirect_uri: straight back to the
    client with state; the session is over, even for a copy of the old cookie."""
    client_id, secret = _client(server)
    browser, tokens = _signed_in(server, client_id, secret)
    assert _session_alive(server, browser, client_id)
    old_cookies = dict(browser.http.cookies)
    assert "provider_session" in old_cookies

    state = secrets.token_urlsafe(8)
    response = browser.get(
        "/oidc/logout?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": LOGOUT,
                "state": state,
            }
        )
    )
    assert response.status_code == 302, response.text[:300]
    assert response.headers["location"] == f"{LOGOUT}?{urlencode({'state': state})}"
    assert "provider_session" not in browser.http.cookies

    assert not _session_alive(server, browser, client_id)
    replay = BrowserClient(server.base_url)
    for name, value in old_cookies.items():
        replay.http.cookies.set(name, value)
    assert not _session_alive(server, replay, client_id)
    replay.close()
    browser.close()


def test_logout_with_post_and_existing_query_in_return_url(server: ProviderServer) -> None:
    """POST works too, and state joins a registered URI's own query with '&'."""
    target = "https://rp.example/out?from=op"
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "q",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        "--logout-uri",
        target,
    )
    client_id, secret = created["client_id"], created["client_secret"]
    browser, tokens = _signed_in(server, client_id, secret)
    response = browser.post(
        "/oidc/logout",
        data={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": target,
            "state": "st",
        },
    )
    assert response.status_code == 302, response.text[:300]
    assert response.headers["location"] == target + "&state=st"
    assert not _session_alive(server, browser, client_id)
    browser.close()


def test_logout_to_an_unregistered_uri_is_refused(server: ProviderServer) -> None:
    """A post_logout_redirect_uri not registered as a logout URI of the hint's client (even
    its redirect URI, or another client's logout URI) gets an error page, no redirect, and
    the session survives."""
    client_id, secret = _client(server)
    other = server.cli_json(
        "clients",
        "create",
        "--name",
        "other",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        "--logout-uri",
        OTHER_LOGOUT,
    )
    browser, tokens = _signed_in(server, client_id, secret)
    for target in ("https://evil.example/", REDIRECT, OTHER_LOGOUT, LOGOUT + "/x"):
        response = browser.get(
            "/oidc/logout?"
            + urlencode(
                {
                    "id_token_hint": tokens["id_token"],
                    "post_logout_redirect_uri": target,
                    "state": "s",
                }
            )
        )
        assert response.status_code == 400, (target, response.status_code)
        assert "location" not in response.headers
        assert "evil.example" not in response.text
    # client_id naming another client than the hint's: refused too.
    response = browser.get(
        "/oidc/logout?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "client_id": other["client_id"],
                "post_logout_redirect_uri": OTHER_LOGOUT,
            }
        )
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert _session_alive(server, browser, client_id)
    browser.close()


def test_logout_with_an_invalid_hint_is_refused(server: ProviderServer) -> None:
    """A forged id_token_hint is an error, not a logout."""
    client_id, secret = _client(server)
    browser, tokens = _signed_in(server, client_id, secret)
    head, payload, _ = tokens["id_token"].split(".")
    response = browser.get(
        "/oidc/logout?"
        + urlencode(
            {
                "id_token_hint": f"{head}.{payload}.AAAA",
                "post_logout_redirect_uri": LOGOUT,
            }
        )
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert _session_alive(server, browser, client_id)
    browser.close()


def test_logout_without_hint_asks_for_confirmation(server: ProviderServer) -> None:
    """Without id_token_hint the user confirms on a CSRF-protected page; a forged post does
    nothing, the real one ends the session and returns to the client with state."""
    client_id, secret = _client(server)
    browser, _ = _signed_in(server, client_id, secret)
    response = browser.get(
        "/oidc/logout?"
        + urlencode(
            {
                "client_id": client_id,
                "post_logout_redirect_uri": LOGOUT,
                "state": "st8",
            }
        )
    )
    assert response.status_code == 200
    assert 'method="post"' in response.text
    fields = hidden_fields(response.text)
    assert fields.get("csrf")
    assert fields["post_logout_redirect_uri"] == LOGOUT
    assert _session_alive(server, browser, client_id)

    forged = browser.post("/oidc/logout", data={**fields, "csrf": "0" * 64})
    assert forged.status_code == 200
    assert "location" not in forged.headers
    assert _session_alive(server, browser, client_id)

    # Another signed-in browser's CSRF token is no good here either.
    stranger, _ = _signed_in(server, client_id, secret)
    stranger_csrf = hidden_fields(stranger.get("/oidc/logout").text)["csrf"]
    stranger.close()
    assert stranger_csrf != fields["csrf"]
    crossed = browser.post("/oidc/logout", data={**fields, "csrf": stranger_csrf})
    assert crossed.status_code == 200
    assert _session_alive(server, browser, client_id)

    confirmed = browser.post("/oidc/logout", data=fields)
    assert confirmed.status_code == 302, confirmed.text[:300]
    assert confirmed.headers["location"] == LOGOUT + "?state=st8"
    assert not _session_alive(server, browser, client_id)
    browser.close()


def test_logout_without_target_shows_signed_out_page(server: ProviderServer) -> None:
    """Confirming a bare /oidc/logout ends the session and shows a page."""
    client_id, secret = _client(server)
    browser, _ = _signed_in(server, client_id, secret)
    page = browser.get("/oidc/logout")
    assert page.status_code == 200
    done = browser.post("/oidc/logout", data=hidden_fields(page.text))
    assert done.status_code == 200
    assert 'action="/oidc/logout"' not in done.text
    assert not _session_alive(server, browser, client_id)
    browser.close()


def test_logout_hint_of_another_user_asks_first(server: ProviderServer) -> None:
    """An id_token_hint for someone else than the signed-in user does not end that user's
    session without confirmation."""
    client_id, secret = _client(server)
    demo_browser, demo_tokens = _signed_in(server, client_id, secret)
    demo_browser.close()
    email, password = f"u{time.time_ns()}@example.com", "another-long-password"
    server.cli_json("users", "create", "--email", email, "--password", password)
    browser, _ = _signed_in(server, client_id, secret, email, password)
    response = browser.get(
        "/oidc/logout?"
        + urlencode(
            {
                "id_token_hint": demo_tokens["id_token"],
                "post_logout_redirect_uri": LOGOUT,
            }
        )
    )
    assert response.status_code == 200
    assert hidden_fields(response.text).get("csrf")
    assert _session_alive(server, browser, client_id)
    browser.close()


def test_logout_without_session_redirects_at_once(server: ProviderServer) -> None:
    """Nobody signed in: nothing to confirm, straight to the registered URI."""
    client_id, _ = _client(server)
    browser = BrowserClient(server.base_url)
    response = browser.get(
        "/oidc/logout?"
        + urlencode(
            {
                "client_id": client_id,
                "post_logout_redirect_uri": LOGOUT,
                "state": "z",
            }
        )
    )
    assert response.status_code == 302
    assert response.headers["location"] == LOGOUT + "?state=z"
    browser.close()


def test_v2_logout_with_return_to_and_client_id(server: ProviderServer) -> None:
    """/v2/logout (Auth0 style): returnTo must be a logout URI of client_id; after the user
    confirms, the session ends and the browser goes to returnTo as is."""
    client_id, secret = _client(server)
    browser, _ = _signed_in(server, client_id, secret)

    refused = browser.get(
        "/v2/logout?" + urlencode({"client_id": client_id, "returnTo": "https://evil.example/"})
    )
    assert refused.status_code == 400
    assert "location" not in refused.headers
    assert _session_alive(server, browser, client_id)

    page = browser.get("/v2/logout?" + urlencode({"client_id": client_id, "returnTo": LOGOUT}))
    assert page.status_code == 200
    assert 'action="/v2/logout"' in page.text
    fields = hidden_fields(page.text)
    assert _session_alive(server, browser, client_id)
    done = browser.post("/v2/logout", data=fields)
    assert done.status_code == 302, done.text[:300]
    assert done.headers["location"] == LOGOUT
    assert not _session_alive(server, browser, client_id)

    # Signed out already: straight back.
    again = browser.get("/v2/logout?" + urlencode({"client_id": client_id, "returnTo": LOGOUT}))
    assert again.status_code == 302
    assert again.headers["location"] == LOGOUT
    browser.close()


# -- consent ----------------------------------------------------------------------------------


def test_third_party_consent_is_asked_then_remembered(server: ProviderServer) -> None:
    """A third-party client gets a consent page naming it and the scopes; Allow gives a code
    that exchanges; the same (or fewer) scopes later need no consent, new scopes do."""
    client_id, secret = _client(server, first_party=False, name="Third Party App")
    browser = BrowserClient(server.base_url)
    verifier, challenge = pkce_pair()
    response, state = _authorize(browser, client_id, code_challenge=challenge)
    assert _is_login_page(response)
    response = browser.follow_local(browser.login(response, DEMO_EMAIL, DEMO_PASSWORD))
    assert _is_consent_page(response)
    assert "Third Party App" in response.text
    assert "See your email address" in response.text
    assert DEMO_EMAIL in response.text

    allowed = browser.follow_local(browser.consent(response, "allow"))
    params = _assert_code(server, allowed, state)
    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    _, claims = decode_verified(answer.json()["id_token"], server.base_url)
    assert claims["aud"] == client_id

    again, state = _authorize(browser, client_id)
    _assert_code(server, again, state)
    fewer, state = _authorize(browser, client_id, scope="openid")
    _assert_code(server, fewer, state)
    silent, state = _authorize(browser, client_id, prompt="none")
    _assert_code(server, silent, state)

    more, _ = _authorize(browser, client_id, scope="openid email profile")
    assert _is_consent_page(more)
    assert "See your name" in more.text
    browser.close()


def _consented_browser(server: ProviderServer, client_id: str) -> BrowserClient:
    """A signed-in browser whose user has allowed `client_id` openid and email."""
    browser = BrowserClient(server.base_url)
    response, state = _authorize(browser, client_id)
    response = browser.follow_local(browser.login(response, DEMO_EMAIL, DEMO_PASSWORD))
    assert _is_consent_page(response)
    _assert_code(server, browser.follow_local(browser.consent(response, "allow")), state)
    return browser


def test_prompt_consent_asks_again(server: ProviderServer) -> None:
    """prompt=consent shows the consent page even when consent was given; allowing again
    gives a code."""
    client_id, _ = _client(server, first_party=False)
    browser = _consented_browser(server, client_id)
    response, state = _authorize(browser, client_id, prompt="consent")
    assert _is_consent_page(response)
    _assert_code(server, browser.follow_local(browser.consent(response, "allow")), state)
    browser.close()


def test_deny_returns_access_denied(server: ProviderServer) -> None:
    """Deny sends the browser back with error=access_denied, the state and iss; nothing is
    remembered, so the next request asks again."""
    client_id, _ = _client(server, first_party=False)
    browser = BrowserClient(server.base_url)
    response, state = _authorize(browser, client_id)
    response = browser.follow_local(browser.login(response, DEMO_EMAIL, DEMO_PASSWORD))
    assert _is_consent_page(response)
    denied = browser.follow_local(browser.consent(response, "deny"))
    _assert_error(server, denied, state, "access_denied")

    again, _ = _authorize(browser, client_id)
    assert _is_consent_page(again)
    browser.close()


def test_consent_form_needs_its_csrf_token(server: ProviderServer) -> None:
    """A consent post without this browser's CSRF token grants nothing."""
    client_id, _ = _client(server, first_party=False)
    browser = BrowserClient(server.base_url)
    response, _ = _authorize(browser, client_id)
    response = browser.follow_local(browser.login(response, DEMO_EMAIL, DEMO_PASSWORD))
    assert _is_consent_page(response)
    fields = hidden_fields(response.text)
    forged = browser.post("/consent", data={**fields, "csrf": "0" * 64, "decision": "allow"})
    assert forged.status_code == 400
    assert "location" not in forged.headers
    again, _ = _authorize(browser, client_id)
    assert _is_consent_page(again)
    browser.close()


def test_prompt_none_without_consent_is_consent_required(server: ProviderServer) -> None:
    """prompt=none cannot show the consent page: error=consent_required goes back."""
    client_id, _ = _client(server, first_party=False)
    browser, _ = _signed_in(server, *_client(server))  # a session, via a first-party client
    response, state = _authorize(browser, client_id, prompt="none")
    _assert_error(server, response, state, "consent_required")
    browser.close()


# -- prompt, max_age, audience ---------------------------------------------------------------


def test_prompt_none_without_session_is_login_required(server: ProviderServer) -> None:
    """No session and prompt=none: error=login_required (with state and iss), no login page."""
    client_id, _ = _client(server)
    browser = BrowserClient(server.base_url)
    response, state = _authorize(browser, client_id, prompt="none")
    _assert_error(server, response, state, "login_required")
    browser.close()


def test_prompt_none_with_session_returns_a_code_directly(server: ProviderServer) -> None:
    """A signed-in user and a first-party client: prompt=none answers at once with a code."""
    client_id, secret = _client(server)
    browser, _ = _signed_in(server, client_id, secret)
    _, challenge = pkce_pair()
    first_hop = browser.start(
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT,
        scope="openid email",
        state="direct",
        prompt="none",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    _assert_code(server, first_hop, "direct")
    browser.close()


def test_prompt_login_shows_the_login_page_again(server: ProviderServer) -> None:
    """prompt=login re-authenticates a signed-in user; the new ID token's auth_time moves."""
    client_id, secret = _client(server)
    browser, tokens = _signed_in(server, client_id, secret)
    _, first = decode_verified(tokens["id_token"], server.base_url)
    time.sleep(1.1)

    verifier, challenge = pkce_pair()
    response, state = _authorize(browser, client_id, prompt="login", code_challenge=challenge)
    assert _is_login_page(response)
    done = browser.follow_local(browser.login(response, DEMO_EMAIL, DEMO_PASSWORD))
    params = _assert_code(server, done, state)
    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    _, second = decode_verified(answer.json()["id_token"], server.base_url)
    assert second["auth_time"] > first["auth_time"]
    assert second["sub"] == first["sub"]

    # Without prompt=login the fresh session is used as is.
    plain, state = _authorize(browser, client_id)
    _assert_code(server, plain, state)
    browser.close()


def test_max_age_zero_shows_the_login_page(server: ProviderServer) -> None:
    """max_age=0 means re-authenticate now (OIDC Core §3.1.2.1: like prompt=login), even
    right after signing in; a generous max_age does not."""
    client_id, secret = _client(server)
    browser, _ = _signed_in(server, client_id, secret)
    generous, state = _authorize(browser, client_id, max_age="3600")
    _assert_code(server, generous, state)

    response, state = _authorize(browser, client_id, max_age="0")
    assert _is_login_page(response), (response.status_code, response.headers.get("location"))
    done = browser.follow_local(browser.login(response, DEMO_EMAIL, DEMO_PASSWORD))
    _assert_code(server, done, state)
    browser.close()


def test_max_age_exceeded_shows_the_login_page(server: ProviderServer) -> None:
    """A session older than max_age seconds must sign in again."""
    client_id, secret = _client(server)
    browser, _ = _signed_in(server, client_id, secret)
    time.sleep(2.1)
    response, _ = _authorize(browser, client_id, max_age="1")
    assert _is_login_page(response)
    browser.close()


def test_unregistered_audience_at_authorize_is_an_error_redirect(server: ProviderServer) -> None:
    """An audience the client is not registered for ends in an invalid_request redirect with
    state and iss (before any sign-in page), not a server error or a code."""
    client_id, secret = _client(server)
    fresh = BrowserClient(server.base_url)
    response, state = _authorize(fresh, client_id, audience="https://api.example/")
    _assert_error(server, response, state, "invalid_request")
    fresh.close()
    browser, _ = _signed_in(server, client_id, secret)
    response, state = _authorize(browser, client_id, audience='https://api.example/"x"')
    _assert_error(server, response, state, "invalid_request")
    browser.close()
