"""Malformed and hostile input against a real server: every endpoint answers a 4xx in its
protocol's shape (OAuth JSON error, or an HTML error page for the hosted pages), nothing answers
5xx, and the authorization-code / PKCE / CSRF rules hold."""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.oidc import BrowserClient, hidden_fields, pkce_pair, query_of
from tests.servers import ProviderServer, dispose, new_server
from tests.servers import public_client as make_public_client

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"
REDIRECT = "https://rp.example/callback"
LOOPBACK_REDIRECT = "http://127.0.0.1/cb"
API = "https://api.example/"
OVER_LIMIT = 70 * 1024  # the body limit is 64 KiB

OAUTH_POST = ["/oauth/token", "/oauth/revoke", "/oauth/introspect", "/userinfo"]
PAGES_POST = ["/authorize", "/login", "/consent", "/oidc/logout", "/v2/logout"]
# RFC 6749 §5.2: error and error_description use printable ASCII without '"' and '\'.
ERROR_CHARS = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


# -- shapes ---------------------------------------------------------------------------------
def assert_oauth_error(
    response: httpx.Response, status: int | None = None, error: str | None = None
) -> dict[str, str]:
    """A 4xx JSON body with a string `error` (and a well-formed description if any)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and ERROR_CHARS.match(body["error"]), body
    if error is not None:
        assert body["error"] == error, body
    if "error_description" in body:
        assert isinstance(body["error_description"], str), body
        assert ERROR_CHARS.match(body["error_description"]), body
    assert "location" not in response.headers
    return body


def assert_error_page(response: httpx.Response, status: int | None = None) -> None:
    """A 4xx HTML page (never a redirect, never a stack trace)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "location" not in response.headers
    assert "<h1>" in response.text and 'role="alert"' in response.text
    assert "Traceback" not in response.text


def assert_no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


def sets_session(response: httpx.Response) -> bool:
    """Does the response hand out a (non-empty) session cookie?"""
    return any(
        re.match(r'provider_session=(?!""|;)', c) for c in response.headers.get_list("set-cookie")
    )


def expect_shape(path: str, response: httpx.Response, status: int | None = None) -> None:
    if path in OAUTH_POST:
        assert_oauth_error(response, status)
    else:
        assert_error_page(response)


# -- fixtures and helpers -------------------------------------------------------------------
@pytest.fixture(scope="module")
def public_client(server: ProviderServer) -> str:
    return server.cli_json(
        "clients",
        "create",
        "--name",
        "spa",
        "--public",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        "--redirect-uri",
        LOOPBACK_REDIRECT,
    )["client_id"]


@pytest.fixture(scope="module")
def confidential_client(server: ProviderServer) -> tuple[str, str]:
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "web",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--grant-type",
        "client_credentials",
        "--audience",
        API,
        "--scope",
        "read:things",
    )
    return created["client_id"], created["client_secret"]


@pytest.fixture(scope="module")
def third_party_client(server: ProviderServer) -> str:
    return server.cli_json(
        "clients",
        "create",
        "--name",
        "Third Party",
        "--public",
        "--redirect-uri",
        REDIRECT,
    )["client_id"]


def post(
    server: ProviderServer,
    path: str,
    content: bytes | Iterator[bytes] | None = None,
    content_type: str | None = FORM,
    headers: dict[str, str | bytes] | None = None,
) -> httpx.Response:
    sent: dict[str, str | bytes] = dict(headers or {})
    if content_type is not None:
        sent["content-type"] = content_type
    return httpx.request("POST", server.base_url + path, content=content, headers=sent, timeout=30)


def token(server: ProviderServer, **data: str) -> httpx.Response:
    return httpx.post(server.base_url + "/oauth/token", data=data, timeout=30)


def get_code(
    server: ProviderServer,
    client_id: str,
    *,
    challenge: str | None,
    scope: str = "openid offline_access",
    redirect: str = REDIRECT,
) -> str:
    """Sign the demo user in through the hosted pages and return the authorization code."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    browser = BrowserClient(server.base_url)
    try:
        result = browser.sign_in(DEMO_EMAIL, DEMO_PASSWORD, **params)
    finally:
        browser.close()
    assert result.location.startswith(redirect + "?"), result.location
    return result.params["code"]


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


# -- malformed bodies at every body-reading endpoint ----------------------------------------
MULTIPART = (
    b'--xx\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\n'
    b"client_credentials\r\n--xx--\r\n"
)
BAD_BODIES: dict[str, tuple[str, bytes]] = {
    "invalid-json": (JSON, b'{"grant_type": '),
    "json-array": (JSON, b'["grant_type", "client_credentials"]'),
    "json-string": (JSON, b'"grant_type=client_credentials"'),
    "json-nested-object": (JSON, b'{"grant_type": {"$ne": ""}, "token": {"a": [1]}}'),
    "json-list-value": (JSON, b'{"grant_type": ["client_credentials"], "token": ["x"]}'),
    "json-non-utf8": (JSON, b'{"grant_type": "\xff\xfe", "token": "\xc3"}'),
    "json-deeply-nested": (JSON, b'{"token": ' + b"[" * 30000 + b"]" * 30000 + b"}"),
    "json-huge-number": (JSON, b'{"token": 1' + b"0" * 5000 + b"}"),
    "form-non-utf8": (FORM, b"grant_type=\xff\xfe&token=\xc3\x28"),
    "form-bad-percent-escape": (FORM, b"grant_type=%ff%fe&token=%c3%28"),
    "form-encoded-surrogate": (FORM, b"grant_type=%ed%a0%80&token=%ed%a0%80"),
    "text-plain": ("text/plain", b"grant_type=client_credentials&token=x"),
    "xml": ("application/xml", b"<grant_type>client_credentials</grant_type>"),
    "multipart": ("multipart/form-data; boundary=xx", MULTIPART),
    "garbage-content-type": ('foo/bar;;;===;charset="', b"token=x"),
    "json-lone-surrogate": (
        JSON,
        b'{"grant_type": "authorization_code", "code": "\\ud800",'
        b' "client_id": "\\udfff", "token": "\\ud800x"}',
    ),
    "json-surrogate-key": (JSON, b'{"\\ud800": "x", "token": "x"}'),
}


@pytest.mark.parametrize("path", OAUTH_POST + PAGES_POST)
@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_malformed_body_is_refused_in_protocol_shape(
    server: ProviderServer, path: str, kind: str
) -> None:
    """Unreadable, mistyped or ambiguous bodies get a 4xx in the endpoint's own shape."""
    content_type, body = BAD_BODIES[kind]
    response = post(server, path, body, content_type)
    expect_shape(path, response, 400)


@pytest.mark.parametrize("path", OAUTH_POST + PAGES_POST)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_refused(server: ProviderServer, path: str, chunked: bool) -> None:
    """Bodies over 64 KiB are refused (413 with an OAuth error at the OAuth endpoints), whether
    or not the client declared their length."""
    body = b"token=" + b"a" * OVER_LIMIT

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = post(server, path, pieces() if chunked else body)
    if path in OAUTH_POST:
        assert_oauth_error(response, 413, "invalid_request")
    else:
        assert_error_page(response)


def test_body_just_under_the_limit_is_read(
    server: ProviderServer, confidential_client: tuple[str, str]
) -> None:
    """The limit is not lower than documented: a valid 60 KiB request is served."""
    client_id, secret = confidential_client
    body = (
        f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        f"&padding_{'p' * 100}="
    ).encode()
    body += b"&" + b"&".join(b"x%d=%s" % (i, b"y" * 1000) for i in range(62))
    assert 60 * 1024 < len(body) < 64 * 1024
    response = post(server, "/oauth/token", body)
    assert response.status_code == 200, response.text


# -- repeated and huge parameters -----------------------------------------------------------
def test_repeated_parameter_refused_even_when_request_is_otherwise_valid(
    server: ProviderServer, confidential_client: tuple[str, str]
) -> None:
    """RFC 6749 §3.2: a parameter sent twice makes the token request invalid."""
    client_id, secret = confidential_client
    good = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    assert post(server, "/oauth/token", good.encode()).status_code == 200
    for extra in (
        "&grant_type=client_credentials",
        f"&client_id={client_id}",
        f"&client_secret={secret}",
    ):
        response = post(server, "/oauth/token", (good + extra).encode())
        assert_oauth_error(response, 400, "invalid_request")
    as_json = (
        '{"grant_type": "client_credentials", "grant_type": "client_credentials", '
        f'"client_id": "{client_id}", "client_secret": "{secret}"}}'
    ).encode()
    assert_oauth_error(post(server, "/oauth/token", as_json, JSON), 400, "invalid_request")
    # Body and query string together count as a repeat too.
    response = httpx.post(
        server.base_url + "/oauth/token?grant_type=client_credentials",
        content=good.encode(),
        headers={"content-type": FORM},
    )
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
def test_repeated_token_parameter_refused(
    server: ProviderServer, confidential_client: tuple[str, str], path: str
) -> None:
    """Revocation and introspection refuse a repeated `token`, in a form or as a duplicate
    JSON member."""
    client_id, secret = confidential_client
    auth = basic(client_id, secret)
    assert post(server, path, b"token=a", headers=auth).status_code == 200  # control
    response = post(server, path, b"token=a&token=b", headers=auth)
    assert_oauth_error(response, 400, "invalid_request")
    response = post(server, path, b'{"token": "a", "token": "a"}', JSON, headers=auth)
    assert_oauth_error(response, 400, "invalid_request")


def test_repeated_access_token_at_userinfo(server: ProviderServer) -> None:
    """UserInfo with two form access tokens is a 4xx OAuth error."""
    response = post(server, "/userinfo", b"access_token=a&access_token=b")
    assert_oauth_error(response)


@pytest.mark.parametrize(
    "param", ["client_id", "response_type", "redirect_uri", "scope", "code_challenge", "state"]
)
def test_repeated_parameter_at_authorize_issues_no_code(
    server: ProviderServer, public_client: str, param: str
) -> None:
    """A repeated authorization parameter never yields a code: an error page, or an error sent
    to the registered redirect URI."""
    _, challenge = pkce_pair()
    params = [
        ("response_type", "code"),
        ("client_id", public_client),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "s1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    params += [(k, v) for k, v in params if k == param]
    browser = BrowserClient(server.base_url)
    response = browser.follow_local(browser.get("/authorize", params=params))
    browser.close()
    if response.status_code == 302:
        location = response.headers["location"]
        assert location.startswith(REDIRECT + "?"), location
        assert query_of(location)["error"] == "invalid_request"
        assert "code" not in query_of(location)
    else:
        assert_error_page(response)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("size", [9000, 60000])
def test_huge_parameter_value_refused(
    server: ProviderServer, confidential_client: tuple[str, str], path: str, size: int
) -> None:
    """A parameter longer than any legitimate value is an invalid_request."""
    client_id, secret = confidential_client
    for name in ("token", "client_id", "code", "grant_type"):
        body = (
            f"grant_type=authorization_code&token=t&code=c&client_secret={secret}&"
            f"client_id={client_id}"
        ).replace(f"{name}=", f"{name}={'A' * size}", 1)
        response = post(server, path, body.encode())
        assert_oauth_error(response, 400, "invalid_request")


def test_huge_values_at_userinfo_and_authorize(server: ProviderServer, public_client: str) -> None:
    """Huge tokens or authorization parameters are refused without a 5xx."""
    huge = "A" * 60000
    assert_oauth_error(post(server, "/userinfo", f"access_token={huge}".encode()), 401)
    answer = httpx.get(server.base_url + "/userinfo", headers={"Authorization": "Bearer " + huge})
    assert_oauth_error(answer, 401)
    for name in ("client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge"):
        params = {
            "response_type": "code",
            "client_id": public_client,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "code_challenge_method": "S256",
            name: huge,
        }
        response = httpx.get(server.base_url + "/authorize", params=params)
        assert_error_page(response)


def test_huge_login_fields_with_valid_csrf(server: ProviderServer) -> None:
    """Huge email and password fields (with a valid CSRF token) are a failed sign-in, not a 5xx."""
    browser = BrowserClient(server.base_url)
    page = browser.get("/login")
    fields = hidden_fields(page.text)
    response = browser.post(
        "/login", data={**fields, "email": "a" * 30000 + "@example.com", "password": "p" * 30000}
    )
    browser.close()
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


# -- garbage Authorization headers and cookies ----------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


GARBAGE_AUTH: list[str | bytes] = [
    "Basic",
    "Basic x y z",
    "Basic !!!not-base64!!!",
    "Basic " + _b64(b"no-colon"),
    "Basic " + _b64(b":"),
    "Basic " + _b64(b"\xff\xfe:\xff"),
    "Basic " + _b64(b"a\x00b:c"),
    "Basic " + _b64(b"%ff%fe:%zz"),
    "Basic " + _b64(b"x" * 5000 + b":y"),
    "Basic ====",
    "Bearer",
    "Bearer a.b.c",
    "Bearer " + "x" * 8000,
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "Digest username=x",
    "Bearer  a  b",
    b"Basic \xe9\xe9\xe9",
    b"Bearer \xe9t\xe9",
]


@pytest.mark.parametrize("header", GARBAGE_AUTH, ids=lambda h: repr(h)[:40])
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_garbage_authorization_header_at_token_endpoints(
    server: ProviderServer, path: str, header: str | bytes
) -> None:
    """A malformed Authorization header is a 4xx OAuth error, never a 5xx."""
    response = post(
        server, path, b"grant_type=client_credentials&token=abc", headers={"Authorization": header}
    )
    assert_oauth_error(response)


@pytest.mark.parametrize("header", GARBAGE_AUTH, ids=lambda h: repr(h)[:40])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_garbage_authorization_header_at_userinfo(
    server: ProviderServer, method: str, header: str | bytes
) -> None:
    """UserInfo answers a garbage Authorization header with a 4xx OAuth error."""
    response = httpx.request(
        method, server.base_url + "/userinfo", headers={"Authorization": header}
    )
    assert_oauth_error(response)
    assert response.status_code in (400, 401)


GARBAGE_COOKIES: list[str | bytes] = [
    "provider_bid=garbage; provider_session=garbage",
    "provider_bid=a.b.c.d; provider_session=.",
    "provider_bid=" + "x" * 3000 + "; provider_session=" + "y" * 3000,
    ";;;=;provider_bid;=provider_session; ; provider_session",
    'provider_bid="\\"; provider_session="\\x00',
    "provider_bid=1; provider_bid=2; provider_session=3; provider_session=4",
    b"provider_bid=\xe9\xff; provider_session=\xc3\x28",
]
PAGES_GET = [
    "/login",
    "/login?tx=nope",
    "/consent",
    "/consent?tx=nope",
    "/account",
    "/authorize/resume?tx=nope",
    "/oidc/logout",
    "/v2/logout",
    "/authorize?client_id=nope",
]


@pytest.mark.parametrize("cookie", GARBAGE_COOKIES, ids=lambda c: repr(c)[:30])
@pytest.mark.parametrize("path", PAGES_GET)
def test_garbage_cookies_are_ignored(
    server: ProviderServer, path: str, cookie: str | bytes
) -> None:
    """Forged or malformed cookies never cause a 5xx and never sign anyone in."""
    response = httpx.get(server.base_url + path, headers={"Cookie": cookie})
    assert_no_server_error(response)
    if path == "/account":
        assert response.status_code == 303 and response.headers["location"] == "/login"
    location = response.headers.get("location", "")
    assert not location.startswith("http"), location  # only ever local hops


@pytest.mark.parametrize("cookie", GARBAGE_COOKIES, ids=lambda c: repr(c)[:30])
@pytest.mark.parametrize("path", ["/login", "/consent", "/oidc/logout", "/v2/logout"])
def test_garbage_cookies_on_form_posts(
    server: ProviderServer, path: str, cookie: str | bytes
) -> None:
    """A form post carrying forged cookies signs nobody in: /login and /consent refuse it with
    an error page; logout (there is no session to end) just says signed out."""
    response = post(
        server,
        path,
        b"csrf=x&tx=y&email=demo%40example.com&password=demo-password&decision=allow",
        headers={"Cookie": cookie},
    )
    if path in ("/login", "/consent"):
        assert_error_page(response, 400)
    else:
        assert response.status_code == 200 and "signed out" in response.text
    assert not sets_session(response)


def test_browser_cookie_replayed_as_session_cookie_is_not_a_session(
    server: ProviderServer,
) -> None:
    """A signed browser-id cookie replayed as the session cookie does not sign anyone in."""
    browser = BrowserClient(server.base_url)
    browser.get("/login")
    bid = browser.http.cookies["provider_bid"]
    response = httpx.get(
        server.base_url + "/account",
        headers={"Cookie": f"provider_bid={bid}; provider_session={bid}"},
    )
    browser.close()
    assert response.status_code == 303 and response.headers["location"] == "/login"


# -- NUL characters (PostgreSQL refuses them in text: they must not reach a query) ----------
NUL_QUERIES = [
    "/login?tx=a%00b",
    "/consent?tx=a%00b",
    "/authorize/resume?tx=a%00b",
    "/mfa?t=a%00b",
    "/mfa/methods?t=a%00b",
    "/mfa/enroll?t=a%00b",
    "/authorize?response_type=code&scope=openid&client_id=a%00b",
    "/oidc/logout?client_id=a%00b&post_logout_redirect_uri=https://x/",
    "/v2/logout?client_id=a%00b&returnTo=https://x/",
]


@pytest.mark.parametrize("path", NUL_QUERIES)
def test_nul_in_query_parameters(server: ProviderServer, path: str) -> None:
    """A NUL in an identifier taken from the query string is an error page, never a 5xx."""
    browser = BrowserClient(server.base_url)
    browser.get("/login")  # a known browser, so lookups bound to it really run
    response = browser.get(path)
    browser.close()
    assert_error_page(response)


NUL_FORM = (
    b"grant_type=client_credentials&client_id=a%00b&client_secret=s%00&token=a%00b"
    b"&tx=a%00b&t=a%00b&email=a%00b%40example.com&password=p%00&code=x%00"
    b"&post_logout_redirect_uri=https://x/%00"
)
NUL_JSON = (
    b'{"grant_type": "client_credentials", "client_id": "a\\u0000b", "token": "\\u0000",'
    b' "tx": "\\u0000", "t": "\\u0000", "email": "a\\u0000@example.com"}'
)


@pytest.mark.parametrize(
    "path", OAUTH_POST + PAGES_POST + ["/mfa/verify", "/mfa/select", "/mfa/enroll", "/mfa/continue"]
)
@pytest.mark.parametrize("body", [NUL_FORM, NUL_JSON], ids=["form", "json"])
def test_nul_in_body_parameters(server: ProviderServer, path: str, body: bytes) -> None:
    """NULs in form or JSON parameters are refused in the endpoint's shape."""
    response = post(server, path, body, JSON if body is NUL_JSON else FORM)
    expect_shape(path, response)


def test_nul_in_basic_credentials(server: ProviderServer) -> None:
    """A NUL inside Basic credentials is invalid_client (401)."""
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        response = post(
            server,
            path,
            b"grant_type=client_credentials&token=x",
            headers={"Authorization": "Basic " + _b64(b"a\x00b:c")},
        )
        assert_oauth_error(response, 401, "invalid_client")


def test_nul_in_login_fields_with_valid_csrf(server: ProviderServer) -> None:
    """A NUL in the email of an otherwise valid sign-in form is refused, not a 5xx."""
    browser = BrowserClient(server.base_url)
    fields = hidden_fields(browser.get("/login").text)
    response = browser.post(
        "/login", data={**fields, "email": "demo\x00@example.com", "password": DEMO_PASSWORD}
    )
    browser.close()
    assert 400 <= response.status_code < 500, response.text[:300]
    assert not sets_session(response)


# -- query strings, unknown paths and wrong methods -----------------------------------------
@pytest.mark.parametrize("query", ["%ff%fe=%c3%28", "a=%ed%a0%80", "&&&==&=", "x=" + "y" * 20000])
@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/jwks.json"])
def test_well_known_ignores_garbage_queries(server: ProviderServer, path: str, query: str) -> None:
    """Discovery documents are static: garbage in the query string changes nothing."""
    response = httpx.get(
        f"{server.base_url}{path}?{query}",
        headers={"Cookie": "provider_session=;;=", "Authorization": "Basic !"},
    )
    assert response.status_code == 200
    assert isinstance(response.json(), dict)


@pytest.mark.parametrize("path", OAUTH_POST)
def test_garbage_query_string_at_oauth_endpoints(server: ProviderServer, path: str) -> None:
    """A query string that is not UTF-8 is an invalid_request."""
    response = httpx.post(f"{server.base_url}{path}?%ff=%fe", data={"token": "x"})
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "query",
    [
        "%ff%fe=%c3%28",
        "client_id=%ed%a0%80",
        "client_id=a%00b",
        "response_type=code&client_id=" + "c" * 300,
        "",
    ],
)
def test_garbage_query_string_at_authorize(server: ProviderServer, query: str) -> None:
    """/authorize renders an error page for undecodable or unusable parameters."""
    assert_error_page(httpx.get(f"{server.base_url}/authorize?{query}"), 400)


ODD_VALUES = ['"', "\\", "\u00e9", "\u20ac", "\x00", "\x7f", "\n", "%", "a b", "<script>"]
AUTHORIZE_PARAMS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "audience",
    "response_mode",
    "request",
    "login_hint",
]


@pytest.mark.parametrize("name", AUTHORIZE_PARAMS)
def test_odd_characters_in_authorization_parameters(
    server: ProviderServer, public_client: str, name: str
) -> None:
    """Quotes, backslashes, controls and non-ASCII in any authorization parameter: never a 5xx;
    errors go to an error page or, well-formed, to the registered redirect URI."""
    _, challenge = pkce_pair()
    base = {
        "response_type": "code",
        "client_id": public_client,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    for odd in ODD_VALUES:
        for value in (odd, base.get(name, "x") + odd):
            response = httpx.get(server.base_url + "/authorize", params={**base, name: value})
            assert_no_server_error(response)
            location = response.headers.get("location", "")
            if response.status_code >= 400:
                assert_error_page(response)
            elif location.startswith(REDIRECT):
                answer = query_of(location)
                assert "code" not in answer and answer["error"], answer
                assert ERROR_CHARS.match(answer.get("error_description", "")), answer
            else:
                assert location.startswith("/login?"), location


TOKEN_REQUESTS = {
    "authorization_code": {
        "grant_type": "authorization_code",
        "code": "c",
        "code_verifier": "v",
        "redirect_uri": REDIRECT,
    },
    "refresh_token": {"grant_type": "refresh_token", "refresh_token": "r", "scope": "openid"},
    "client_credentials": {
        "grant_type": "client_credentials",
        "audience": API,
        "scope": "read:things",
    },
    "revoke": {"token": "t", "token_type_hint": "refresh_token"},
}


@pytest.mark.parametrize("kind", sorted(TOKEN_REQUESTS))
@pytest.mark.parametrize("encoding", ["form", "json"])
def test_odd_characters_in_token_parameters(
    server: ProviderServer, confidential_client: tuple[str, str], kind: str, encoding: str
) -> None:
    """Odd characters in any token, revocation or introspection parameter give a 4xx OAuth error
    whose description is RFC 6749 §5.2 ASCII."""
    client_id, secret = confidential_client
    base = {**TOKEN_REQUESTS[kind], "client_id": client_id, "client_secret": secret}
    paths = ["/oauth/revoke", "/oauth/introspect"] if kind == "revoke" else ["/oauth/token"]
    for path, name, odd in ((p, n, o) for p in paths for n in base for o in ODD_VALUES):
        data = {**base, name: base[name] + odd}
        response = (
            httpx.post(server.base_url + path, data=data)
            if encoding == "form"
            else httpx.post(server.base_url + path, json=data)
        )
        if response.status_code == 200:  # revoking/introspecting an unknown token is no error;
            # a trailing newline in a scope is whitespace, which the token endpoint tolerates.
            assert path != "/oauth/token" or (name, odd) == ("scope", "\n"), response.text
            continue
        assert_oauth_error(response)


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/oauth",
        "/oauth/token/extra",
        "/.well-known/nope",
        "/.well-known/",
        "/static/nope.css",
        "/%00",
        "/authorize%00",
        "/" + "a" * 5000,
        "/.well-known/openid-configuration/..%2f..%2fetc%2fpasswd",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_paths_answer_json_404(server: ProviderServer, path: str, method: str) -> None:
    """Unknown paths answer a JSON 404, whatever the method (405 under /static)."""
    response = httpx.request(method, server.base_url + path, content=b"{")
    static_post = method == "POST" and path.startswith("/static/")
    assert_oauth_error(response, 405 if static_post else 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/oauth/token"),
        ("PUT", "/oauth/token"),
        ("DELETE", "/oauth/token"),
        ("GET", "/oauth/revoke"),
        ("GET", "/oauth/introspect"),
        ("PATCH", "/oauth/introspect"),
        ("PUT", "/authorize"),
        ("DELETE", "/authorize"),
        ("DELETE", "/userinfo"),
        ("PUT", "/userinfo"),
        ("PATCH", "/login"),
        ("PUT", "/consent"),
        ("DELETE", "/oidc/logout"),
        ("PUT", "/v2/logout"),
        ("POST", "/.well-known/openid-configuration"),
        ("POST", "/.well-known/jwks.json"),
        ("DELETE", "/.well-known/jwks.json"),
        ("POST", "/healthz"),
        ("OPTIONS", "/oauth/token"),
        ("POST", "/authorize/resume"),
        ("POST", "/account"),
    ],
)
def test_wrong_method_answers_json_405(server: ProviderServer, method: str, path: str) -> None:
    """A method an endpoint does not serve is a JSON 405."""
    response = httpx.request(method, server.base_url + path, content=b"token=x")
    assert_oauth_error(response, 405, "invalid_request")


# -- clients and redirect URIs --------------------------------------------------------------
def test_unknown_client_and_wrong_secret_at_token_endpoint(
    server: ProviderServer, confidential_client: tuple[str, str]
) -> None:
    """Unknown clients and wrong secrets are invalid_client (401), by post and by Basic."""
    client_id, secret = confidential_client
    grant = {"grant_type": "client_credentials"}
    assert token(server, **grant, client_id=client_id, client_secret=secret).status_code == 200
    in_body = [
        token(server, **grant, client_id="no-such-client", client_secret=secret),
        token(server, **grant, client_id=client_id, client_secret=secret + "x"),
        token(server, **grant, client_id=client_id, client_secret=secret[:-1]),
        token(server, **grant, client_id=client_id, client_secret=""),
        token(server, **grant, client_id=client_id),
    ]
    for response in in_body:  # RFC 6749 §5.2: 400 or 401
        assert_oauth_error(response, None, "invalid_client")
        assert response.status_code in (400, 401)
    in_header = [
        httpx.post(
            server.base_url + "/oauth/token",
            data=grant,
            headers=basic(client_id, secret.swapcase()),
        ),
        httpx.post(
            server.base_url + "/oauth/token", data=grant, headers=basic("no-such-client", secret)
        ),
    ]
    for response in in_header:  # RFC 6749 §5.2: MUST be 401 with a challenge
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].lower().startswith("basic")
    for path in ("/oauth/introspect", "/oauth/revoke"):
        response = httpx.post(
            server.base_url + path, data={"token": "x"}, headers=basic(client_id, "wrong")
        )
        assert_oauth_error(response, 401, "invalid_client")


def test_unknown_client_at_authorize_renders_error_page(server: ProviderServer) -> None:
    """/authorize for an unknown client shows an error page and redirects nowhere."""
    response = httpx.get(
        server.base_url + "/authorize",
        params={
            "response_type": "code",
            "client_id": "no-such-client",
            "redirect_uri": "https://attacker.example/cb",
            "scope": "openid",
        },
    )
    assert_error_page(response, 400)
    assert "attacker.example" not in response.headers.get("location", "")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/callback",
        REDIRECT + "/extra",
        REDIRECT + "?x=1",
        REDIRECT + "#frag",
        "http://rp.example/callback",
        "https://rp.example.attacker.example/callback",
        "https://rp.example@attacker.example/callback",
        "https://RP.EXAMPLE/callback",
        "//attacker.example/callback",
        "javascript:alert(1)",
        REDIRECT + " ",
        REDIRECT + "/../evil",
        "http://127.0.0.1:80@attacker.example/cb",
        "http://127.0.0.1:@attacker.example/cb",
        "http://127.0.0.1:8080\\.attacker.example/cb",
        "https://127.0.0.1:8080/cb",
        "http://localhost:8080/cb",
        "http://127.0.0.1:8080/cb/../evil",
    ],
)
def test_mismatched_redirect_uri_renders_error_not_redirect(
    server: ProviderServer, public_client: str, redirect_uri: str
) -> None:
    """An unregistered redirect_uri gets an error page; the browser is never sent there."""
    _, challenge = pkce_pair()
    response = httpx.get(
        server.base_url + "/authorize",
        params={
            "response_type": "code",
            "client_id": public_client,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert_error_page(response, 400)


def test_loopback_redirect_may_change_port_only(server: ProviderServer, public_client: str) -> None:
    """RFC 8252 §7.3: a registered loopback redirect accepts any port (the positive control
    for the mismatch cases above)."""
    verifier, challenge = pkce_pair()
    code = get_code(server, public_client, challenge=challenge, redirect="http://127.0.0.1:8123/cb")
    answer = token(
        server,
        grant_type="authorization_code",
        code=code,
        client_id=public_client,
        redirect_uri="http://127.0.0.1:8123/cb",
        code_verifier=verifier,
    )
    assert answer.status_code == 200, answer.text


def test_missing_redirect_uri_with_several_registered(
    server: ProviderServer, public_client: str
) -> None:
    """Without redirect_uri and with several registered, there is nowhere safe to go."""
    _, challenge = pkce_pair()
    response = httpx.get(
        server.base_url + "/authorize",
        params={
            "response_type": "code",
            "client_id": public_client,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert_error_page(response, 400)


def test_token_request_with_other_redirect_uri_is_invalid_grant(
    server: ProviderServer, public_client: str
) -> None:
    """The token request must repeat the authorization request's redirect_uri exactly."""
    verifier, challenge = pkce_pair()
    code = get_code(server, public_client, challenge=challenge)
    for other in ("https://attacker.example/callback", LOOPBACK_REDIRECT, REDIRECT + "/", ""):
        answer = token(
            server,
            grant_type="authorization_code",
            code=code,
            client_id=public_client,
            redirect_uri=other,
            code_verifier=verifier,
        )
        assert_oauth_error(answer, 400, "invalid_grant")
    # The failures above did not consume the code.
    answer = token(
        server,
        grant_type="authorization_code",
        code=code,
        client_id=public_client,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert answer.status_code == 200, answer.text


def test_code_bound_to_its_client(
    server: ProviderServer, public_client: str, confidential_client: tuple[str, str]
) -> None:
    """A code issued to one client is worthless to another."""
    verifier, challenge = pkce_pair()
    code = get_code(server, public_client, challenge=challenge)
    client_id, secret = confidential_client
    answer = token(
        server,
        grant_type="authorization_code",
        code=code,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert_oauth_error(answer, 400, "invalid_grant")


# -- PKCE -----------------------------------------------------------------------------------
def _authorize_error(server: ProviderServer, **params: str) -> dict[str, str]:
    """Run /authorize (no sign-in needed: validation comes first) and return the error sent
    back to the registered redirect URI."""
    response = httpx.get(
        server.base_url + "/authorize",
        params={
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "st",
            **params,
        },
    )
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    answer = query_of(location)
    assert "code" not in answer
    assert answer["state"] == "st" and answer["iss"] == server.issuer
    return answer


def test_plain_code_challenge_method_refused(server: ProviderServer, public_client: str) -> None:
    """Only S256 is accepted: `plain` (or a challenge without a method) is invalid_request."""
    verifier, _ = pkce_pair()
    for method in ({"code_challenge_method": "plain"}, {}, {"code_challenge_method": "s256"}):
        answer = _authorize_error(
            server, client_id=public_client, code_challenge=verifier, **method
        )
        assert answer["error"] == "invalid_request", answer


def test_public_client_without_code_challenge_refused(
    server: ProviderServer, public_client: str
) -> None:
    """Public clients must send a code_challenge."""
    answer = _authorize_error(server, client_id=public_client)
    assert answer["error"] == "invalid_request"


def test_pkce_downgrade_refused(
    server: ProviderServer, confidential_client: tuple[str, str]
) -> None:
    """A code_verifier for a code requested without code_challenge is refused (RFC 9700 §4.8),
    and the same exchange without the verifier works."""
    client_id, secret = confidential_client
    code = get_code(server, client_id, challenge=None)
    verifier, _ = pkce_pair()
    answer = token(
        server,
        grant_type="authorization_code",
        code=code,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert_oauth_error(answer, 400)
    answer = token(
        server,
        grant_type="authorization_code",
        code=code,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=REDIRECT,
    )
    assert answer.status_code == 200, answer.text


def test_wrong_or_missing_code_verifier_refused(server: ProviderServer, public_client: str) -> None:
    """The token request must prove possession of the verifier."""
    verifier, challenge = pkce_pair()
    code = get_code(server, public_client, challenge=challenge)
    other, _ = pkce_pair()
    base = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": public_client,
        "redirect_uri": REDIRECT,
    }
    assert_oauth_error(token(server, **base, code_verifier=other), 400, "invalid_grant")
    assert_oauth_error(token(server, **base), 400, "invalid_request")
    assert_oauth_error(token(server, **base, code_verifier="short"), 400, "invalid_request")
    assert_oauth_error(token(server, **base, code_verifier=verifier + "!"), 400, "invalid_request")
    assert_oauth_error(token(server, **base, code_verifier=challenge), 400, "invalid_grant")
    answer = token(server, **base, code_verifier=verifier)
    assert answer.status_code == 200, answer.text


# -- codes: replay, expiry, unknown ---------------------------------------------------------
def test_replayed_code_revokes_what_it_issued(
    server: ProviderServer, confidential_client: tuple[str, str]
) -> None:
    """A second use of a code is invalid_grant and revokes the first use's tokens."""
    client_id, secret = confidential_client
    verifier, challenge = pkce_pair()
    code = get_code(server, client_id, challenge=challenge)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    first = token(server, **exchange)
    assert first.status_code == 200, first.text
    issued = first.json()
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert httpx.get(server.base_url + "/userinfo", headers=bearer).status_code == 200

    assert_oauth_error(token(server, **exchange), 400, "invalid_grant")

    refreshed = token(
        server,
        grant_type="refresh_token",
        refresh_token=issued["refresh_token"],
        client_id=client_id,
        client_secret=secret,
    )
    assert_oauth_error(refreshed, 400, "invalid_grant")
    assert_oauth_error(httpx.get(server.base_url + "/userinfo", headers=bearer), 401)
    for value in (issued["access_token"], issued["refresh_token"]):
        seen = httpx.post(
            server.base_url + "/oauth/introspect",
            data={"token": value},
            headers=basic(client_id, secret),
        )
        assert seen.status_code == 200 and seen.json()["active"] is False


@pytest.mark.parametrize(
    "code",
    ["", "no-such-code", "A" * 200, "A" * 201, "\u00e9\u00e9", "../../etc/passwd", "' OR 1=1 --"],
)
def test_unknown_code_is_invalid_grant(
    server: ProviderServer, confidential_client: tuple[str, str], code: str
) -> None:
    """Codes the server never issued are refused (invalid_grant, or invalid_request if empty)."""
    client_id, secret = confidential_client
    answer = token(
        server,
        grant_type="authorization_code",
        code=code,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=REDIRECT,
    )
    body = assert_oauth_error(answer, 400)
    assert body["error"] == "invalid_grant" or (code == "" and body["error"] == "invalid_request")


@pytest.fixture(scope="module")
def short_code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    """A second server whose authorization codes live three seconds."""
    instance = new_server(
        tmp_path_factory.mktemp("short-codes"), PROVIDER_AUTHORIZATION_CODE_TTL="3"
    )
    instance.start()
    yield instance
    dispose(instance)


def test_expired_code_is_invalid_grant(short_code_server: ProviderServer) -> None:
    """A code used after its lifetime is refused."""
    server = short_code_server
    client_id = make_public_client(server, REDIRECT, name="spa")
    verifier, challenge = pkce_pair()
    exchange = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    fresh = get_code(server, client_id, challenge=challenge)
    assert token(server, **exchange, code=fresh).status_code == 200  # control: in time
    stale = get_code(server, client_id, challenge=challenge)
    time.sleep(4.2)
    assert_oauth_error(token(server, **exchange, code=stale), 400, "invalid_grant")


# -- CSRF on the hosted forms ---------------------------------------------------------------
def _other_browser_csrf(server: ProviderServer, path: str) -> str:
    other = BrowserClient(server.base_url)
    try:
        return hidden_fields(other.get(path).text)["csrf"]
    finally:
        other.close()


def _signed_in(browser: BrowserClient) -> bool:
    return browser.get("/account").status_code == 200


def test_login_without_valid_csrf_is_refused(server: ProviderServer) -> None:
    """/login POST with a missing, wrong or other browser's CSRF token signs nobody in."""
    browser = BrowserClient(server.base_url)
    fields = hidden_fields(browser.get("/login").text)
    credentials = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "tx": fields["tx"]}
    foreign = _other_browser_csrf(server, "/login")
    tampered = fields["csrf"][:-1] + ("1" if fields["csrf"][-1] == "0" else "0")
    for csrf in (None, "", "0" * 64, tampered, foreign):
        data = dict(credentials) if csrf is None else {**credentials, "csrf": csrf}
        response = browser.post("/login", data=data)
        assert_error_page(response, 400)
        assert not sets_session(response)
        assert not _signed_in(browser)
    # A cookie-less client replaying a real token is refused too (no browser to bind to).
    response = httpx.post(server.base_url + "/login", data={**credentials, "csrf": fields["csrf"]})
    assert_error_page(response, 400)
    # Control: the right token signs in.
    response = browser.post("/login", data={**credentials, "csrf": fields["csrf"]})
    assert response.status_code == 303
    assert _signed_in(browser)
    browser.close()


def test_consent_without_valid_csrf_is_refused(
    server: ProviderServer, third_party_client: str
) -> None:
    """/consent POST without this browser's CSRF token grants nothing and issues no code."""
    verifier, challenge = pkce_pair()
    browser = BrowserClient(server.base_url)
    page = browser.follow_local(
        browser.start(
            response_type="code",
            client_id=third_party_client,
            redirect_uri=REDIRECT,
            scope="openid profile",
            state="st",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    page = browser.follow_local(browser.login(page, DEMO_EMAIL, DEMO_PASSWORD))
    assert 'action="/consent"' in page.text, page.text[:500]
    fields = hidden_fields(page.text)
    consent_url = f"/consent?tx={fields['tx']}"
    foreign = _other_browser_csrf(server, "/login")
    for csrf in (None, "", "f" * 64, foreign):
        data = {"tx": fields["tx"], "decision": "allow"}
        if csrf is not None:
            data["csrf"] = csrf
        response = browser.post("/consent", data=data)
        assert_error_page(response, 400)
        # Nothing was granted: the consent page is still what /authorize/resume leads to.
        assert 'action="/consent"' in browser.get(consent_url).text
        resumed = browser.get(f"/authorize/resume?tx={fields['tx']}")
        assert resumed.status_code == 302 and resumed.headers["location"] == consent_url
    # Control: the right token completes the flow.
    done = browser.follow_local(browser.consent(page))
    browser.close()
    assert done.status_code == 302
    assert done.headers["location"].startswith(REDIRECT + "?")
    assert (
        token(
            server,
            grant_type="authorization_code",
            client_id=third_party_client,
            code=query_of(done.headers["location"])["code"],
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        ).status_code
        == 200
    )


def test_login_csrf_token_is_form_specific(server: ProviderServer) -> None:
    """A CSRF token minted for the logout form is not accepted by the login form."""
    browser = BrowserClient(server.base_url)
    fields = hidden_fields(browser.get("/login").text)
    credentials = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "tx": ""}
    assert browser.post("/login", data={**credentials, "csrf": fields["csrf"]}).status_code == 303
    logout_csrf = hidden_fields(browser.get("/account").text).get("csrf")
    assert logout_csrf and logout_csrf != fields["csrf"]
    response = browser.post("/login", data={**credentials, "csrf": logout_csrf})
    browser.close()
    assert_error_page(response, 400)


# -- account enumeration --------------------------------------------------------------------
def _normalised(text: str, email: str) -> str:
    return text.replace(email, "EMAIL")


def test_unknown_email_and_wrong_password_look_the_same(server: ProviderServer) -> None:
    """Sign-in with an unknown email and with a wrong password answer identically."""
    browser = BrowserClient(server.base_url)
    fields = hidden_fields(browser.get("/login").text)
    unknown = "nobody-" + secrets.token_hex(4) + "@example.com"
    answers = {}
    for email, password in (
        (unknown, DEMO_PASSWORD),
        (DEMO_EMAIL, "wrong-password"),
        (unknown, "wrong-password"),
        (DEMO_EMAIL.upper(), "Demo-Password"),
    ):
        response = browser.post("/login", data={**fields, "email": email, "password": password})
        answers[(email, password)] = (
            response.status_code,
            _normalised(response.text, email),
            sets_session(response),
        )
    browser.close()
    distinct = set(answers.values())
    assert len(distinct) == 1, answers
    status, text, session_set = distinct.pop()
    assert status == 401 and not session_set
    assert "Wrong email or password." in text
