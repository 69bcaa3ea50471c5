"""The dashboard's Connections page: add a connection (Google preset and a generic one), see the
callback URL, change it without ever seeing the client secret, turn it off (the sign-in page no
longer offers it), refuse bad input on the page, delete it — each change on Activity."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.admin_flow import AdminUser, create_user, csrf_of, post_form, sign_in
from tests.oidc import BrowserClient
from tests.servers import ProviderServer, dispose, new_server

SECRET = "upstream-client-secret-value"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    instance = new_server(tmp_path_factory.mktemp("admin-connections"))
    instance.start()
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def admin(server: ProviderServer) -> AdminUser:
    return create_user(server, "ops@example.com", admin=True)


@pytest.fixture(scope="module")
def browser(server: ProviderServer, admin: AdminUser) -> Iterator[BrowserClient]:
    signed_in, page = sign_in(server, admin)
    assert page.status_code == 200, page.text[:300]
    yield signed_in
    signed_in.close()


def _add(browser: BrowserClient, **fields: str) -> tuple[str, str]:
    """Submit the add form; the connection page it lands on and the connection id."""
    page = browser.get("/admin/connections/new")
    assert page.status_code == 200
    answer = post_form(browser, "/admin/connections/new", csrf_of(page), **fields)
    found = re.search(r'action="/admin/connections/(con_[0-9a-f]+)"', answer.text)
    assert found, answer.text[:800]
    return answer.text, found.group(1)


def _activity(browser: BrowserClient) -> str:
    return html.unescape(browser.get("/admin/activity").text)


def test_connections_are_added_changed_and_deleted(
    server: ProviderServer, admin: AdminUser, browser: BrowserClient
) -> None:
    empty = browser.get("/admin/connections")
    assert "No connections yet." in empty.text
    assert server.issuer + "login/callback" in empty.text

    page, google_id = _add(
        browser, name="google", preset="google", client_id="google-client", client_secret=SECRET
    )
    assert "Connection added" in page and "https://accounts.google.com" in page
    assert SECRET not in page and 'value="' + SECRET not in page
    listed = browser.get("/admin/connections").text
    assert "Google" in listed and "trusted" in listed  # the preset trusts email_verified

    page, corp_id = _add(
        browser,
        name="corp",
        issuer="https://idp.example.com",
        display_name="Corp SSO",
        client_id="corp-client",
        client_secret=SECRET,
        scopes="openid email",
        allow_linking="true",
    )
    assert "Corp SSO" in page and SECRET not in page

    # The sign-in page offers both; switching one off hides it there.
    sign_in_page = BrowserClient(server.base_url).get("/login").text
    assert "Continue with Google" in sign_in_page and "Continue with Corp SSO" in sign_in_page
    edit = browser.get(f"/admin/connections/{corp_id}")
    saved = post_form(
        browser,
        f"/admin/connections/{corp_id}",
        csrf_of(edit),
        display_name="Corp SSO",
        client_id="corp-client-2",
        scopes="openid email profile",
    )  # enabled unticked
    assert "Connection saved." in saved.text and SECRET not in saved.text
    assert "corp-client-2" in saved.text
    sign_in_page = BrowserClient(server.base_url).get("/login").text
    assert "Continue with Corp SSO" not in sign_in_page
    assert "Continue with Google" in sign_in_page

    # A new secret replaces the old one without being shown.
    replaced = post_form(
        browser,
        f"/admin/connections/{google_id}",
        csrf_of(browser.get(f"/admin/connections/{google_id}")),
        display_name="Google",
        client_id="google-client",
        client_secret="another-secret-value",
        scopes="openid email profile",
        trust_email_verified="true",
        enabled="true",
    )
    assert "Connection saved." in replaced.text and "another-secret-value" not in replaced.text

    deleted = post_form(
        browser, f"/admin/connections/{corp_id}/delete", csrf_of(browser.get("/admin/connections"))
    )
    assert "Connection deleted." in deleted.text and "Corp SSO" not in deleted.text

    activity = _activity(browser)
    who = f"user:{admin.user_id} {admin.email}"
    for action in ("connection.create", "connection.update", "connection.delete"):
        assert re.search(rf"{re.escape(who)}.*?<code>{re.escape(action)}</code>", activity, re.S)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Bad Name", "issuer": "https://idp.example.com"}, "name"),
        ({"name": "plain", "issuer": "http://idp.example.com"}, "loopback"),
        ({"name": "noissuer"}, "issuer"),
        (
            {"name": "nosecret", "issuer": "https://idp.example.com", "client_secret": ""},
            "client_secret",
        ),
        ({"name": "scopes", "issuer": "https://idp.example.com", "scopes": "a" * 300}, "scopes"),
    ],
)
def test_bad_connection_forms_are_refused_on_the_page(
    browser: BrowserClient, fields: dict[str, str], message: str
) -> None:
    page = browser.get("/admin/connections/new")
    form = {"client_id": "c", "client_secret": SECRET, **fields}
    answer = post_form(browser, "/admin/connections/new", csrf_of(page), **form)
    assert 400 <= answer.status_code < 500, answer.status_code
    assert "Not created" in answer.text and message in html.unescape(answer.text)
    assert SECRET not in answer.text


def test_connection_forms_need_the_csrf_token_and_unknown_ids_are_handled(
    browser: BrowserClient,
) -> None:
    refused = browser.post("/admin/connections/new", data={"name": "x", "client_id": "c"})
    assert 400 <= refused.status_code < 500
    missing = browser.follow_local(browser.get("/admin/connections/con_nope"))
    assert missing.status_code == 200 and "no such connection" in missing.text
