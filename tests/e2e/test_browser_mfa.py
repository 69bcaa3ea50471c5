"""The hosted MFA pages in a real browser: Debian's Chromium (through Playwright) against a real
`provider serve` whose MFA policy is "always". Screenshots of each step go to
test-artifacts/screenshots/mfa-*.png."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from plugins.totp import qr_svg
from tests.e2e.test_browser_login import (
    DEMO_EMAIL,
    DEMO_HEADING,
    DEMO_PASSWORD,
    path_of,
    screenshot,
    sign_in,
)
from tests.mfa_flow import current_totp
from tests.servers import ProviderServer, dispose, new_server

pytestmark = pytest.mark.browser

RECOVERY_CODE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$")


@pytest.fixture(scope="module")
def mfa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    """A provider (demo data on) that requires a second factor of every user."""
    server = new_server(tmp_path_factory.mktemp("mfa-browser"))
    server.start()
    server.cli("mfa", "policy", "always")
    yield server
    dispose(server)


def claims_of(page: Page) -> dict[str, Any]:
    expect(page.get_by_role("heading", name=DEMO_HEADING)).to_be_visible()
    assert path_of(page.url) == "/demo/callback"
    return json.loads(page.locator("pre.claims").inner_text())


def shown_recovery_code(page: Page) -> str:
    expect(page.get_by_role("heading", name="Save your recovery code")).to_be_visible()
    codes = page.locator("code.recovery-code")
    expect(codes).to_have_count(1)
    expect(codes).to_have_text(RECOVERY_CODE)
    return codes.inner_text()


def test_enroll_totp_then_sign_in_with_the_recovery_code(
    mfa_server: ProviderServer, page: Page, browser: Browser
) -> None:
    """First sign-in: "Secure your account" → Authenticator app (QR + key) → TOTP code →
    recovery code shown once → demo app with amr otp+mfa. Second sign-in, in a new profile:
    TOTP challenge → Try another method → Recovery code → a fresh recovery code → demo app."""
    # -- first sign-in: nothing enrolled yet -----------------------------------------------------
    page.goto(mfa_server.base_url + "/demo")
    sign_in(page, DEMO_EMAIL, DEMO_PASSWORD)

    expect(page.get_by_role("heading", name="Secure your account")).to_be_visible()
    assert path_of(page.url) == "/mfa/enroll"
    expect(page).to_have_title("Secure your account · provider")
    screenshot(page, "mfa-01-secure-your-account")

    page.get_by_role("button", name="Authenticator app").click()
    expect(page.get_by_role("heading", name="Set up your second step")).to_be_visible()
    qr = page.locator("img.qr")
    expect(qr).to_be_visible()
    natural = page.evaluate(
        "() => { const img = document.querySelector('img.qr');"
        " return {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,"
        " shown: img.getBoundingClientRect().width}; }"
    )
    assert natural["complete"] and natural["width"] > 0 and natural["height"] > 0, natural
    assert natural["width"] == natural["height"]  # a QR code is square
    assert natural["shown"] >= 150, natural  # large enough to scan from the screen

    secret = page.locator("#secret").inner_text().strip()
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    # The QR code encodes the key shown as text, for this account.
    uri = (
        f"otpauth://totp/provider:{DEMO_EMAIL}?secret={secret}&issuer=provider"
        "&algorithm=SHA1&digits=6&period=30"
    )
    src = qr.get_attribute("src") or ""
    assert src.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(src.split(",", 1)[1]).decode() == qr_svg(uri)
    screenshot(page, "mfa-02-enroll-qr")

    page.fill("#code", current_totp(secret))
    screenshot(page, "mfa-03-enroll-code")
    page.get_by_role("button", name="Continue", exact=True).click()

    recovery = shown_recovery_code(page)
    assert path_of(page.url) == "/mfa/enroll/confirm"
    screenshot(page, "mfa-04-recovery-code")
    page.get_by_role("button", name="I have saved it, continue").click()

    claims = claims_of(page)
    assert claims["email"] == DEMO_EMAIL
    assert {"otp", "mfa"} <= set(claims["amr"]), claims["amr"]
    assert "pwd" in claims["amr"]
    assert claims["acr"] == "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    screenshot(page, "mfa-05-claims-after-enrollment")

    # -- second sign-in, in a fresh browser profile: the recovery code instead of the app ------
    context = browser.new_context(viewport={"width": 800, "height": 700})
    context.set_default_timeout(15_000)
    try:
        second = context.new_page()
        second.goto(mfa_server.base_url + "/demo")
        sign_in(second, DEMO_EMAIL, DEMO_PASSWORD)

        expect(second.get_by_role("heading", name="Verify it's you")).to_be_visible()
        assert path_of(second.url) == "/mfa"
        expect(
            second.get_by_text("Enter the 6-digit code from your authenticator app.")
        ).to_be_visible()
        screenshot(second, "mfa-06-totp-challenge")

        second.get_by_role("link", name="Try another method").click()
        expect(second.get_by_role("heading", name="Try another method")).to_be_visible()
        expect(second.locator("form.method button")).to_have_text(
            ["Authenticator app", "Recovery code"]
        )
        screenshot(second, "mfa-07-try-another-method")

        second.get_by_role("button", name="Recovery code").click()
        expect(second.get_by_role("heading", name="Verify it's you")).to_be_visible()
        expect(second.get_by_text("Enter your recovery code.")).to_be_visible()
        expect(second.get_by_label("Recovery code")).to_be_visible()
        second.get_by_label("Recovery code").fill(recovery)
        screenshot(second, "mfa-08-recovery-challenge")
        second.get_by_role("button", name="Continue", exact=True).click()

        fresh = shown_recovery_code(second)
        assert fresh != recovery  # the used code is replaced by a new one, shown once
        screenshot(second, "mfa-09-new-recovery-code")
        second.get_by_role("button", name="I have saved it, continue").click()

        claims = claims_of(second)
        assert claims["email"] == DEMO_EMAIL
        assert "mfa" in claims["amr"] and "otp" not in claims["amr"], claims["amr"]
        screenshot(second, "mfa-10-claims-after-recovery-code")
    finally:
        context.close()
