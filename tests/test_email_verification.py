"""Email verification: a signed, expiring, single-use link sent through the outbox (here the
built-in test provider), confirmed with a button; operators can also set the flag."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.oidc import BrowserClient, hidden_fields
from tests.servers import ProviderServer

LINK = re.compile(r"http://127\.0\.0\.1:\d+/verify-email\?token=[A-Za-z0-9._-]+")


def _verified(server: ProviderServer, email: str) -> bool:
    users = server.cli_json("users", "list")
    return next(u for u in users if u["email"] == email)["email_verified"]


def _latest_link(server: ProviderServer, email: str) -> str:
    messages = [m for m in server.cli_json("mail", "list") if m["to"] == email]
    body = server.cli("mail", "show", messages[0]["id"]).stdout
    return LINK.search(body).group(0)


def _open(browser: BrowserClient, link: str, token: str | None = None) -> str:
    parts = urlsplit(link)
    page = browser.get(f"{parts.path}?{parts.query}")
    fields = hidden_fields(page.text)
    if token is not None:
        fields["token"] = token
    return browser.post("/verify-email", data=fields).text


def test_link_verifies_once(server: ProviderServer) -> None:
    """The link from `users verify-email --send` verifies the address; a second use and a
    tampered link are refused; a link only shown (GET) verifies nothing."""
    server.cli_json("users", "create", "--email", "ver@example.com", "--password", "password-1")
    server.cli("users", "verify-email", "--email", "ver@example.com", "--send")
    link = _latest_link(server, "ver@example.com")
    browser = BrowserClient(server.base_url)
    parts = urlsplit(link)
    browser.get(f"{parts.path}?{parts.query}")  # what a mail scanner would do
    assert not _verified(server, "ver@example.com")
    assert "Email verified" in _open(browser, link)
    assert _verified(server, "ver@example.com")
    assert "already used" in _open(browser, link)
    token = parts.query.split("=", 1)[1]
    assert "not valid" in _open(
        browser, link, token=token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    )


def test_operator_sets_and_unsets_the_flag(server: ProviderServer) -> None:
    server.cli_json("users", "create", "--email", "op@example.com", "--password", "password-1")
    server.cli("users", "verify-email", "--email", "op@example.com", "--set")
    assert _verified(server, "op@example.com")
    server.cli("users", "verify-email", "--email", "op@example.com", "--unset")
    assert not _verified(server, "op@example.com")


def test_account_page_sends_links_with_a_limit(server: ProviderServer) -> None:
    """A signed-in user asks for a link from the account page; the fourth request within a
    minute is refused with Auth0's wording."""
    server.cli_json("users", "create", "--email", "acct@example.com", "--password", "password-1")
    browser = BrowserClient(server.base_url)
    login = browser.get("/login")
    browser.post(
        "/login",
        data={**hidden_fields(login.text), "email": "acct@example.com", "password": "password-1"},
    )
    statuses = []
    for _ in range(4):
        account = browser.get("/account")
        form = account.text.split('action="/account/verify-email"')[1].split("</form>")[0]
        answer = browser.post("/account/verify-email", data=hidden_fields(form))
        statuses.append(answer.status_code)
    assert statuses == [200, 200, 200, 429]
    assert "exceeded the amount of emails" in answer.text
    assert "Email verified" in _open(browser, _latest_link(server, "acct@example.com"))
    assert _verified(server, "acct@example.com")


def test_users_create_can_send_the_verification_link(server: ProviderServer) -> None:
    """`users create --send-verification` queues verify_email with the user (one transaction);
    the link then verifies the new account."""
    server.cli_json(
        "users",
        "create",
        "--email",
        "new@example.com",
        "--password",
        "password-1",
        "--send-verification",
    )
    browser = BrowserClient(server.base_url)
    assert "Email verified" in _open(browser, _latest_link(server, "new@example.com"))
    assert _verified(server, "new@example.com")
