"""Helpers for tests of the admin dashboard: signing in through provider's hosted pages (with
MFA: TOTP enrolled on the first sign-in) and reading the dashboard's forms."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx

from tests.mfa_flow import RECOVERY, SECRET, current_totp
from tests.oidc import BrowserClient, hidden_fields
from tests.servers import ProviderServer

CSRF = re.compile(r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">')
PASSWORD = "password-123"


@dataclass
class AdminUser:
    email: str
    user_id: str
    totp_secret: str | None = None
    last_step: int = 0

    def next_code(self) -> str:
        """A TOTP code for a time step not used yet (provider refuses a replayed step)."""
        assert self.totp_secret
        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        return current_totp(self.totp_secret, step * 30)


def create_user(
    server: ProviderServer, email: str, *, admin: bool, verified: bool = True
) -> AdminUser:
    args = ["users", "create", "--email", email, "--password", PASSWORD]
    created = server.cli_json(*args, *(["--email-verified"] if verified else []))
    if admin:
        server.cli("users", "grant-admin", "--email", email)
    return AdminUser(email, created["user_id"])


def _post(
    browser: BrowserClient, page: httpx.Response, action: str, **fields: str
) -> httpx.Response:
    return browser.follow_local(browser.post(action, data={**hidden_fields(page.text), **fields}))


def sign_in(server: ProviderServer, user: AdminUser) -> tuple[BrowserClient, httpx.Response]:
    """/admin/login → password → TOTP (enrolled the first time) → wherever it ends: the
    dashboard for an admin, a refusal otherwise."""
    browser = BrowserClient(server.base_url)
    page = browser.follow_local(browser.get("/admin/login"))
    assert 'action="/login"' in page.text, page.text[:300]
    page = browser.follow_local(browser.login(page, user.email, PASSWORD))
    if "Secure your account" in page.text:
        page = _post(browser, page, "/mfa/enroll", factor="otp")
        user.totp_secret = SECRET.search(page.text).group(1)
        page = _post(browser, page, "/mfa/enroll/confirm", code=user.next_code())
        if "Save your recovery code" in page.text:
            assert RECOVERY.search(page.text)
            page = _post(browser, page, "/mfa/continue")
    else:
        assert "authenticator app" in page.text, page.text[:500]
        page = _post(browser, page, "/mfa/verify", code=user.next_code())
    return browser, page


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def post_form(
    browser: BrowserClient, path: str, csrf: str, follow: bool = True, **fields: str | list[str]
) -> httpx.Response:
    response = browser.post(path, data={"csrf": csrf, **fields})
    return browser.follow_local(response) if follow else response
