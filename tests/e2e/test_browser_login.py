"""The hosted sign-in pages in a real browser: Debian's Chromium (through Playwright) against a
real `provider serve`. Screenshots of each step go to test-artifacts/screenshots/."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.oidc import pkce_pair, query_of
from tests.servers import ProviderServer

pytestmark = pytest.mark.browser

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-password"
DEMO_HEADING = "Signed in to the demo application"
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def path_of(url: str) -> str:
    return urlsplit(url).path


def sign_in(page: Page, email: str, password: str) -> None:
    """Fill the login form that `page` shows and submit it."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#email", email)
    page.fill("#password", password)
    page.get_by_role("button", name="Continue", exact=True).click()


class _Recorder(BaseHTTPRequestHandler):
    """Records each request path on the server and answers 200 "ok"."""

    server: RecordingServer

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.server.paths.append(self.path)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class RecordingServer(ThreadingHTTPServer):
    paths: list[str]


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    """A tiny HTTP server on a free loopback port, in a thread, standing in for a client app."""
    httpd = RecordingServer(("127.0.0.1", 0), _Recorder)
    httpd.paths = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_demo_flow_signs_in_and_shows_claims(server: ProviderServer, page: Page) -> None:
    """/demo -> login page -> demo credentials -> the demo app shows the ID token's claims."""
    page.goto(server.base_url + "/demo")
    assert path_of(page.url) == "/login"
    expect(page).to_have_title("Sign in · provider")
    screenshot(page, "demo-01-login")

    page.fill("#email", DEMO_EMAIL)
    page.fill("#password", DEMO_PASSWORD)
    screenshot(page, "demo-02-filled")
    page.get_by_role("button", name="Continue", exact=True).click()

    expect(page.get_by_role("heading", name=DEMO_HEADING)).to_be_visible()
    assert path_of(page.url) == "/demo/callback"
    text = page.content()
    assert server.issuer in text
    assert '"amr"' in text
    assert DEMO_EMAIL in text
    claims = json.loads(page.locator("pre.claims").inner_text())
    assert claims["iss"] == server.issuer
    assert claims["aud"] == "demo"
    assert claims["email"] == DEMO_EMAIL
    assert claims["amr"] == ["pwd"]
    screenshot(page, "demo-03-claims")


def test_wrong_password_stays_on_login_page(server: ProviderServer, page: Page) -> None:
    """A wrong password shows "Wrong email or password." on the login page, email kept."""
    page.goto(server.base_url + "/demo")
    sign_in(page, DEMO_EMAIL, "not-the-password")

    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    assert path_of(page.url) == "/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#email")).to_have_value(DEMO_EMAIL)
    expect(page.locator("#password")).to_have_value("")
    screenshot(page, "wrong-password")


def test_third_party_consent_redirects_with_code(server: ProviderServer, page: Page) -> None:
    """A third-party client gets a consent page; Allow sends code, state and iss back."""
    with recording_server() as client_app:
        redirect_uri = f"http://127.0.0.1:{client_app.server_port}/cb"
        client_id = server.cli_json(
            "clients",
            "create",
            "--name",
            "Third Party App",
            "--public",
            "--redirect-uri",
            redirect_uri,
        )["client_id"]
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        page.goto(
            server.base_url
            + "/authorize?"
            + urlencode(
                {
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": redirect_uri,
                    "scope": "openid email",
                    "state": state,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                }
            )
        )
        sign_in(page, DEMO_EMAIL, DEMO_PASSWORD)

        expect(page.get_by_role("heading", name="Authorize Third Party App")).to_be_visible()
        assert path_of(page.url) == "/consent"
        scopes = page.locator("ul.scopes li")
        expect(scopes).to_have_text(["Know who you are", "See your email address"])
        expect(page.get_by_text(DEMO_EMAIL)).to_be_visible()
        screenshot(page, "consent")

        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(redirect_uri + "?**")
        expect(page.locator("body")).to_have_text("ok")

        # Chromium also asks the client app for /favicon.ico; only the callback matters here.
        callbacks = [path for path in client_app.paths if path_of(path) == "/cb"]
        assert len(callbacks) == 1, client_app.paths
        params = query_of(callbacks[0])
        assert params.keys() == {"code", "state", "iss"}
        assert params["code"]
        assert params["state"] == state
        assert params["iss"] == server.issuer

    answer = httpx.post(
        server.base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text


def test_login_page_refuses_framing(server: ProviderServer, page: Page) -> None:
    """The login page forbids framing by header, and Chromium indeed does not render it framed."""
    response = page.goto(server.base_url + "/demo")
    assert response is not None and response.status == 200
    assert path_of(response.url) == "/login"
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"

    with recording_server() as other_site:
        page.goto(f"http://127.0.0.1:{other_site.server_port}/framer")
        # set_content waits for the load event, which waits for the iframe too.
        page.set_content(f'<iframe src="{server.base_url}/login"></iframe>')
        (frame,) = page.main_frame.child_frames
        # Chromium replaces the refused document with its own error page.
        assert frame.url.startswith("chrome-error://"), frame.url
        assert frame.locator("#email").count() == 0


def test_login_works_without_javascript(server: ProviderServer, browser: Browser) -> None:
    """With JavaScript off, the demo login completes: the pages are plain HTML forms."""
    context: BrowserContext = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.base_url + "/demo")
        sign_in(page, DEMO_EMAIL, DEMO_PASSWORD)
        expect(page.get_by_role("heading", name=DEMO_HEADING)).to_be_visible()
        assert DEMO_EMAIL in page.locator("pre.claims").inner_text()
        screenshot(page, "no-javascript-claims")
    finally:
        context.close()


def test_sign_out_from_account_page(server: ProviderServer, page: Page) -> None:
    """Sign out on /account shows "You are signed out"; /account then sends to /login."""
    page.goto(server.base_url + "/login")
    sign_in(page, DEMO_EMAIL, DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="You are signed in")).to_be_visible()

    page.goto(server.base_url + "/account")
    expect(page.get_by_text(f"Signed in as {DEMO_EMAIL}.")).to_be_visible()
    screenshot(page, "account")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    screenshot(page, "signed-out")

    page.goto(server.base_url + "/account")
    assert path_of(page.url) == "/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
