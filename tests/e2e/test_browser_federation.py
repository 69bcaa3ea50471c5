"""Sign in with an upstream provider in a real browser: Chromium clicks "Continue with …" on
provider's sign-in page, signs in at a second provider instance (the upstream), comes back,
completes email MFA with the code from a real SMTP capture, and the demo application shows
the ID token. The upstream answers on `localhost`, provider on `127.0.0.1`: two host names, as
two real sites would be (cookies do not tell ports apart)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser_login import path_of, screenshot, sign_in
from tests.federation_flow import PASSWORD, upstream_client, upstream_user
from tests.mail.smtp_capture import SmtpCapture
from tests.servers import ProviderServer, dispose, free_port, new_server

pytestmark = pytest.mark.browser
CODE = re.compile(r"verification code for .* is: (\d{6})")
EMAIL = "bea@example.com"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture(free_port()).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCapture
) -> Iterator[tuple[ProviderServer, ProviderServer]]:
    tmp = tmp_path_factory.mktemp("browser-federation")
    upstream = new_server(tmp / "upstream")
    upstream.extra_env["PROVIDER_ISSUER"] = f"http://localhost:{upstream.port}/"
    config = tmp / "provider.toml"
    config.write_text("[mfa.factors.email]\nenabled = true\nstandalone = true\n")
    downstream = new_server(
        tmp / "downstream",
        PROVIDER_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}?tls=none",
        PROVIDER_CONFIG=str(config),
    )
    try:
        upstream.start()
        upstream_user(upstream, EMAIL, verified=True)
        client = upstream_client(upstream, downstream, "--first-party")
        downstream.cli_json(
            "connections", "create", "--name", "google", "--preset", "google",
            "--issuer", f"http://localhost:{upstream.port}/", "--display-name", "Googlish",
            "--client-id", client["client_id"], "--client-secret", client["client_secret"],
        )  # fmt: skip
        downstream.start()
        downstream.cli("mfa", "policy", "always")
        yield upstream, downstream
    finally:
        dispose(downstream)
        dispose(upstream)


def test_continue_with_upstream_then_email_mfa(
    pair: tuple[ProviderServer, ProviderServer], smtp: SmtpCapture, page: Page
) -> None:
    upstream, downstream = pair
    page.goto(downstream.base_url + "/demo")
    assert path_of(page.url) == "/login"
    screenshot(page, "federation-01-login")
    page.get_by_role("button", name="Continue with Googlish").click()

    assert page.url.startswith(f"http://localhost:{upstream.port}/login")
    sign_in(page, EMAIL, PASSWORD)

    expect(page.get_by_role("heading", name="Verify it's you")).to_be_visible()
    assert page.url.startswith(downstream.base_url + "/mfa")
    screenshot(page, "federation-02-email-code")
    smtp.wait_for(lambda got: any(EMAIL in m.rcpt_tos for m in got), timeout=30)
    [message] = [m for m in smtp.snapshot() if EMAIL in m.rcpt_tos]
    code = CODE.search(message.message.get_body(preferencelist=("plain",)).get_content())
    page.fill("#code", code.group(1))
    page.get_by_role("button", name="Continue", exact=True).click()

    expect(page.get_by_role("heading", name="Signed in to the demo application")).to_be_visible()
    claims = json.loads(page.locator("pre.claims").inner_text())
    assert claims["iss"] == downstream.issuer and claims["email"] == EMAIL
    assert set(claims["amr"]) == {"fed", "mfa", "email"}
    screenshot(page, "federation-03-claims")
