"""The admin dashboard in a real browser (Debian's Chromium through Playwright) against a real
`provider serve` and a real SMTP capture server: the issue's scenario end to end.

Bootstrapping: the dashboard always requires MFA, so the first admin needs an independent
factor to sign in with. The server starts with TOTP on (its default) and recovery codes off
(provider.toml); the operator enrolls TOTP while signing in, then switches TOTP off in the
dashboard — which leaves TOTP and email both off — and the scenario runs from there: the email
toggle is refused, TOTP goes on, then email. Screenshots of each page: test-artifacts/admin/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.test_browser_login import DEMO_EMAIL, DEMO_PASSWORD, REPO_ROOT, path_of, sign_in
from tests.mail.smtp_capture import SmtpCapture
from tests.mfa_flow import current_totp
from tests.servers import ProviderServer, dispose, free_port, new_server

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "test-artifacts" / "admin"
ADMIN_EMAIL, ADMIN_PASSWORD = "operator@example.com", "operator-password-1"
MARKER = "EDITED-BY-DASHBOARD-7"
CONFIG = """\
[mfa.factors.recovery-code]
enabled = false
"""


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot: test-artifacts/admin/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture(free_port()).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    directory = tmp_path_factory.mktemp("admin-browser")
    config = directory / "provider.toml"
    config.write_text(CONFIG)
    instance = new_server(directory / "data", PROVIDER_CONFIG=str(config))
    instance.start()
    instance.cli("users", "create", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    instance.cli("users", "grant-admin", "--email", ADMIN_EMAIL)
    yield instance
    dispose(instance)


def factor(page: Page, name: str) -> Locator:
    return page.locator(f"#factor-{name}")


def toggle(page: Page, name: str) -> Locator:
    return factor(page, name).locator("button.toggle")


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name=label).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(label)


def test_operator_scenario(
    server: ProviderServer, smtp: SmtpCapture, page: Page, browser: Browser
) -> None:
    base = server.base_url
    # -- sign in: provider's own hosted pages, MFA (TOTP enrolled on the way) -----------------
    page.goto(base + "/admin")
    assert path_of(page.url) == "/login"
    shot(page, "admin-01-sign-in")
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page.get_by_role("heading", name="Secure your account")).to_be_visible()
    page.get_by_role("button", name="Authenticator app").click()
    secret = page.locator("#secret").inner_text().strip()
    page.fill("#code", current_totp(secret))
    shot(page, "admin-02-sign-in-mfa-enroll")
    page.get_by_role("button", name="Continue", exact=True).click()

    expect(page.get_by_role("heading", name="Multi-factor Auth")).to_be_visible()
    assert path_of(page.url) == "/admin/mfa"
    expect(page.get_by_text(f"Signed in as {ADMIN_EMAIL}")).to_be_visible()
    shot(page, "admin-03-mfa-initial")

    # -- Security › Multi-factor Auth ----------------------------------------------------------
    toggle(page, "otp").click()  # TOTP off: now TOTP and email are both off
    expect(page.get_by_role("status")).to_have_text("otp is now disabled.")
    expect(toggle(page, "email")).to_be_disabled()
    expect(factor(page, "email").locator(".why")).to_contain_text(
        "Email can only be enabled while an independent factor"
    )
    shot(page, "admin-04-mfa-email-toggle-disabled")
    # A stale page (or a hand-made request) that submits anyway is refused by the rule itself.
    page.evaluate("document.querySelector('#factor-email button.toggle').disabled = false")
    toggle(page, "email").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "email can only be enabled while an independent factor"
    )
    expect(factor(page, "email").locator(".badge")).to_have_text("Disabled")
    shot(page, "admin-05-mfa-email-toggle-refused")

    toggle(page, "otp").click()
    expect(page.get_by_role("status")).to_have_text("otp is now enabled.")
    expect(toggle(page, "email")).to_be_enabled()
    toggle(page, "email").click()
    expect(page.get_by_role("status")).to_have_text("email is now enabled.")
    expect(factor(page, "email").locator(".badge")).to_have_text("Enabled")

    # Email settings: codes live 4 minutes; email may stand alone (users with only an address).
    factor(page, "email").locator("summary").click()
    page.fill("#email-code_lifetime", "240")
    page.select_option("#email-standalone", "true")
    shot(page, "admin-06-mfa-email-settings")
    factor(page, "email").get_by_role("button", name="Save Email settings").click()
    expect(page.get_by_role("status")).to_have_text("Email settings saved.")
    page.get_by_label("Always").check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_have_text("MFA policy: always.")
    shot(page, "admin-07-mfa-configured")

    # -- Branding › Email provider: SMTP at the capture server, a test email -------------------
    nav(page, "Email provider")
    shot(page, "admin-08-email-provider-empty")
    page.fill("#host", "127.0.0.1")
    page.fill("#port", str(smtp.port))
    page.select_option("#tls", "none")
    page.fill("#from", "provider <no-reply@example.com>")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Email provider saved.")
    page.fill("#to", "ops@example.com")
    page.get_by_role("button", name="Send test email").click()
    expect(page.get_by_role("status")).to_contain_text("Test email queued for ops@example.com")
    received = smtp.wait_for(
        lambda found: any("ops@example.com" in m.rcpt_tos for m in found), timeout=30
    )
    test_mail = next(m for m in received if "ops@example.com" in m.rcpt_tos).message
    assert "no-reply@example.com" in test_mail["From"]
    page.reload()
    expect(page.locator("table.outbox")).to_contain_text("ops@example.com")
    expect(page.locator("table.outbox")).to_contain_text("sent")
    shot(page, "admin-09-email-provider-test-sent")

    # -- Branding › Email templates: edit mfa_oob_code, preview, save ---------------------------
    nav(page, "Email templates")
    shot(page, "admin-10-email-templates")
    page.get_by_role("link", name="Sign-in code (email MFA)").click()
    page.fill("#subject", f"{MARKER}: your code {{{{ code }}}}")
    page.fill("#text", f"{MARKER}\nUse {{{{ code }}}} within {{{{ lifetime_minutes }}}} minutes.")
    page.fill("#body", f"<h1>{MARKER}</h1><p>Use <b>{{{{ code }}}}</b>.</p>")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-subject")).to_have_text(f"{MARKER}: your code 123456")
    expect(page.locator("#preview-text")).to_contain_text("Use 123456 within 5 minutes.")
    expect(page.frame_locator("iframe.preview-html").locator("h1")).to_have_text(MARKER)
    page.locator("iframe.preview-html").scroll_into_view_if_needed()  # painted for the shot
    shot(page, "admin-11-email-template-preview")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Template saved.")
    shot(page, "admin-12-email-template-saved")

    # -- Users, Applications (pages of the dashboard, each captured) ---------------------------
    nav(page, "Users")
    page.fill("#q", "demo")
    page.get_by_role("button", name="Search").click()
    shot(page, "admin-13-users-search")
    page.get_by_role("link", name=DEMO_EMAIL).click()
    expect(page.get_by_role("heading", name=DEMO_EMAIL)).to_be_visible()
    shot(page, "admin-14-user-detail")

    nav(page, "Applications")
    shot(page, "admin-15-applications")
    page.get_by_role("link", name="Create application").click()
    page.fill("#name", "Reports")
    page.fill("#redirect_uris", "https://reports.example/callback")
    shot(page, "admin-16-application-new")
    page.get_by_role("button", name="Create").click()
    client_secret = page.locator("#client-secret").inner_text()
    assert len(client_secret) >= 20
    shot(page, "admin-17-application-created-secret-once")
    client_id = page.locator("#client-id").inner_text()
    page.goto(f"{base}/admin/applications/{client_id}")  # shown again later: no secret
    expect(page.get_by_text("never shown again")).to_be_visible()
    expect(page.locator("#client-secret")).to_have_count(0)
    assert client_secret not in page.content()

    nav(page, "Connections")
    page.get_by_role("link", name="Add connection").click()
    page.fill("#name", "google")
    page.select_option("#preset", "google")
    page.fill("#client_id", "google-client-id")
    page.fill("#client_secret", "google-client-secret")
    shot(page, "admin-17b-connection-new")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text("Connection added.")).to_be_visible()
    assert "google-client-secret" not in page.content()
    shot(page, "admin-17c-connection-added")
    nav(page, "Connections")
    shot(page, "admin-17d-connections")

    # -- a user's next email MFA message uses the edited template ------------------------------
    user_context = browser.new_context(viewport={"width": 800, "height": 700})
    user_context.set_default_timeout(15_000)
    try:
        user_page = user_context.new_page()
        user_page.goto(base + "/demo")
        sign_in(user_page, DEMO_EMAIL, DEMO_PASSWORD)
        expect(user_page.get_by_role("heading", name="Verify it's you")).to_be_visible()
        expect(user_page.get_by_text("We sent a 6-digit code to")).to_be_visible()
        found = smtp.wait_for(lambda got: any(DEMO_EMAIL in m.rcpt_tos for m in got), timeout=30)
        message = next(m for m in found if DEMO_EMAIL in m.rcpt_tos).message
        assert message["Subject"].startswith(f"{MARKER}: your code ")
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert MARKER in text and "within 4 minutes" in text  # the dashboard's code_lifetime
        html_part = message.get_body(preferencelist=("html",)).get_content()
        assert f"<h1>{MARKER}</h1>" in html_part
        code = re.search(r"Use (\d{6}) within", text).group(1)
        user_page.fill("#code", code)
        shot(user_page, "admin-18-user-email-mfa-challenge")
        user_page.get_by_role("button", name="Continue", exact=True).click()
        expect(
            user_page.get_by_role("heading", name="Signed in to the demo application")
        ).to_be_visible()
        assert '"email"' in user_page.locator("pre.claims").inner_text()
    finally:
        user_context.close()

    # -- Activity: every change above, with the operator as the actor --------------------------
    nav(page, "Activity")
    rows = page.locator("table.activity tbody tr")
    actor = page.locator("table.activity").get_by_text(ADMIN_EMAIL).first
    expect(actor).to_be_visible()
    text = page.locator("table.activity").inner_text()
    for action in (
        "admin.sign_in",
        "guardian.factor.disable",
        "guardian.factor.enable",
        "guardian.factor.settings",
        "guardian.policy",
        "email_provider.create",
        "email_provider.test_message",
        "email_template.update",
        "client.create",
    ):
        assert action in text, action
    stamps = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    shot(page, "admin-19-activity")

    # -- signing out ends the dashboard session -----------------------------------------------
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    shot(page, "admin-20-signed-out")
    page.goto(base + "/admin/mfa")
    assert path_of(page.url) == "/login"
