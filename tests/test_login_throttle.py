"""Brute-force protection of the hosted sign-in page."""

from __future__ import annotations

from tests.oidc import BrowserClient, hidden_fields
from tests.servers import ProviderServer


def _attempt(browser: BrowserClient, email: str, password: str) -> tuple[int, str]:
    page = browser.get("/login")
    answer = browser.post(
        "/login", data={**hidden_fields(page.text), "email": email, "password": password}
    )
    return answer.status_code, answer.text


def test_account_is_throttled_after_ten_failures_then_even_the_right_password_waits(
    server: ProviderServer,
) -> None:
    """Ten wrong passwords empty the account's bucket; the eleventh try is refused with 429
    without checking the password, even when it is right."""
    server.cli_json(
        "users", "create", "--email", "brute@example.com", "--password", "right-password"
    )
    browser = BrowserClient(server.base_url)
    for _ in range(10):
        status, text = _attempt(browser, "brute@example.com", "wrong-password")
        assert status == 401 and "Wrong email or password." in text
    status, text = _attempt(browser, "brute@example.com", "right-password")
    assert status == 429
    assert "Too many failed attempts" in text
    browser.close()


def test_unknown_accounts_are_throttled_alike(server: ProviderServer) -> None:
    """An email with no account is throttled exactly like a real one (no enumeration)."""
    browser = BrowserClient(server.base_url)
    for _ in range(10):
        status, _ = _attempt(browser, "nobody-here@example.com", "wrong-password")
        assert status == 401
    status, text = _attempt(browser, "nobody-here@example.com", "wrong-password")
    assert status == 429 and "Too many failed attempts" in text
    browser.close()


def test_success_resets_the_account_bucket(server: ProviderServer) -> None:
    """A correct sign-in forgives earlier failures of that account."""
    server.cli_json(
        "users", "create", "--email", "forgiven@example.com", "--password", "right-password"
    )
    browser = BrowserClient(server.base_url)
    for _ in range(9):
        assert _attempt(browser, "forgiven@example.com", "wrong-password")[0] == 401
    assert _attempt(browser, "forgiven@example.com", "right-password")[0] == 303
    for _ in range(9):
        assert _attempt(browser, "forgiven@example.com", "wrong-password")[0] == 401
    assert _attempt(browser, "forgiven@example.com", "right-password")[0] == 303
    browser.close()
