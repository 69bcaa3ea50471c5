"""The admin dashboard over HTTP against a real server: sign-in through provider with MFA and
the admin role, CSRF, session expiry, every page, every action audited with its actor, the
dependent-factor rule, and secrets never shown after creation."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator

import pytest

from tests.admin_flow import AdminUser, create_user, csrf_of, post_form, sign_in
from tests.oidc import BrowserClient
from tests.servers import ProviderServer, dispose, new_server

PAGES = [
    "/admin/mfa",
    "/admin/email",
    "/admin/templates",
    "/admin/templates/mfa_oob_code",
    "/admin/templates/verify_email",
    "/admin/users",
    "/admin/applications",
    "/admin/applications/new",
    "/admin/applications/demo",
    "/admin/activity",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    instance = new_server(tmp_path_factory.mktemp("admin"))
    instance.start()
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def admin(server: ProviderServer) -> AdminUser:
    return create_user(server, "root@example.com", admin=True)


@pytest.fixture(scope="module")
def signed_in(server: ProviderServer, admin: AdminUser) -> Iterator[BrowserClient]:
    browser, page = sign_in(server, admin)
    assert page.status_code == 200 and "<h1>Multi-factor Auth</h1>" in page.text
    yield browser
    browser.close()


def actor(user: AdminUser) -> str:
    return f"user:{user.user_id} {user.email}"


def csrf(browser: BrowserClient, path: str = "/admin/mfa") -> str:
    return csrf_of(browser.get(path))


def activity_rows(browser: BrowserClient) -> list[str]:
    page = browser.get("/admin/activity")
    assert page.status_code == 200
    return [html.unescape(row) for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S)]


def assert_audited(browser: BrowserClient, who: AdminUser, action: str, target: str = "") -> None:
    rows = activity_rows(browser)
    assert any(
        actor(who) in row and f"<code>{action}</code>" in row and target in row for row in rows
    ), (action, rows[:5])


# -- signing in ------------------------------------------------------------------------------
def test_signed_out_requests_go_to_sign_in(server: ProviderServer) -> None:
    browser = BrowserClient(server.base_url)
    for path in ("/admin", "/admin/mfa", "/admin/users", "/admin/activity"):
        answer = browser.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
    answer = browser.post("/admin/mfa/policy", data={"policy": "always"})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
    start = browser.get("/admin/login")
    assert start.status_code == 303
    location = start.headers["location"]
    assert location.startswith("/authorize?") and "client_id=admin-dashboard" in location
    assert "acr_values=http" in location and "code_challenge_method=S256" in location
    assert "prompt=login" in location


def test_admin_without_mfa_is_led_through_enrollment(server: ProviderServer) -> None:
    """The MFA policy is "never", yet the dashboard asks for MFA: a new admin enrolls TOTP on
    the way in, and the sign-in is audited."""
    assert server.cli("mfa", "policy").stdout.strip().endswith("never")
    fresh = create_user(server, "fresh-admin@example.com", admin=True)
    browser, page = sign_in(server, fresh)
    assert fresh.totp_secret  # enrolled on the way
    assert page.status_code == 200 and "Signed in as <strong>fresh-admin@example.com" in page.text
    cookie = next(c for c in browser.http.cookies.jar if c.name == "provider_admin")
    assert cookie.path == "/admin" and cookie.has_nonstandard_attr("HttpOnly")
    assert_audited(browser, fresh, "admin.sign_in", fresh.user_id)


def test_non_admin_is_refused(server: ProviderServer) -> None:
    """A user without the admin role completes MFA and still gets a 403 page, no session."""
    plain = create_user(server, "plain@example.com", admin=False)
    browser, page = sign_in(server, plain)
    assert page.status_code == 403 and "may not use the admin dashboard" in page.text
    assert "provider_admin" not in {c.name for c in browser.http.cookies.jar}
    assert browser.get("/admin/mfa").headers["location"] == "/admin/login"


def test_revoked_role_and_blocked_admin_are_refused_on_the_next_request(
    server: ProviderServer,
) -> None:
    other = create_user(server, "other-admin@example.com", admin=True)
    browser, page = sign_in(server, other)
    assert page.status_code == 200
    server.cli("users", "grant-admin", "--email", other.email, "--revoke")
    refused = browser.get("/admin/users")
    assert refused.status_code == 403 and "may not use the admin dashboard" in refused.text
    server.cli("users", "grant-admin", "--email", other.email)
    # The session was ended by the refusal: granting the role back needs a new sign-in.
    assert browser.get("/admin/users").headers["location"] == "/admin/login"


# -- pages and headers -----------------------------------------------------------------------
def test_every_page_renders_with_the_security_headers(signed_in: BrowserClient) -> None:
    for path in PAGES:
        page = signed_in.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert 'aria-label="Dashboard"' in page.text and "/admin/logout" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in page.text
    assert signed_in.get("/static/admin.css").status_code == 200


def test_bad_input_never_gives_a_500(signed_in: BrowserClient) -> None:
    token = csrf(signed_in)
    cases = [
        ("/admin/mfa/factors/nope", {"enabled": "true"}, 404),
        ("/admin/mfa/factors/email/settings", {"code_lifetime": "ten"}, 400),
        ("/admin/mfa/factors/email/settings", {"code_lifetime": "5"}, 400),
        ("/admin/mfa/policy", {"policy": "sometimes"}, 400),
        ("/admin/email", {"host": "", "port": "x", "tls": "none"}, 400),
        ("/admin/email", {"host": "smtp.example", "port": "99999", "tls": "none"}, 400),
        ("/admin/email/test", {"to": "nobody"}, 400),
        ("/admin/templates/nope", {"subject": "x"}, 404),
        ("/admin/templates/mfa_oob_code", {"subject": "{{ broken", "body": "", "text": "x"}, 400),
        ("/admin/users/usr_missing/block", {}, 404),
        ("/admin/users/usr_missing/unknown", {}, 404),
        ("/admin/applications/new", {"name": ""}, 400),
        ("/admin/applications/new", {"name": "x", "redirect_uris": "not a uri"}, 400),
        ("/admin/applications/missing", {"name": "x"}, 303),
        ("/admin/applications/missing/rotate", {}, 303),
    ]
    for path, fields, status in cases:
        answer = post_form(signed_in, path, token, follow=False, **fields)
        assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
        if status >= 400:
            assert 'class="error"' in answer.text, path
    assert signed_in.get("/admin/users/usr_missing").status_code == 404
    assert signed_in.get("/admin/users?page=abc&q=" + "x" * 5000).status_code == 200


# -- CSRF ------------------------------------------------------------------------------------
def test_posts_without_the_sessions_csrf_token_are_refused(
    server: ProviderServer, signed_in: BrowserClient, admin: AdminUser
) -> None:
    before = server.cli("mfa", "policy").stdout
    for data in ({"policy": "always"}, {"policy": "always", "csrf": "0" * 64}):
        answer = signed_in.post("/admin/mfa/policy", data=data)
        assert answer.status_code == 403 and "This form has expired" in answer.text
    # A token of another admin session is no good either.
    other, _ = sign_in(server, create_user(server, "csrf-admin@example.com", admin=True))
    foreign = csrf(other)
    assert foreign != csrf(signed_in)
    answer = signed_in.post("/admin/mfa/policy", data={"policy": "always", "csrf": foreign})
    assert answer.status_code == 403
    assert server.cli("mfa", "policy").stdout == before
    answer = signed_in.post("/admin/logout", data={})
    assert answer.status_code == 403  # sign-out too needs the token
    other.close()


# -- Multi-factor Auth -----------------------------------------------------------------------
def test_email_toggle_is_refused_until_an_independent_factor_is_on(
    server: ProviderServer, signed_in: BrowserClient, admin: AdminUser
) -> None:
    token = csrf(signed_in)
    # otp cannot go first: recovery-code depends on it.
    page = post_form(signed_in, "/admin/mfa/factors/otp", token, enabled="false")
    assert page.status_code == 400 and "recovery-code depends on it" in page.text
    for name in ("recovery-code", "otp"):
        page = post_form(signed_in, f"/admin/mfa/factors/{name}", token, enabled="false")
        assert page.status_code == 200 and f"{name} is now disabled" in page.text

    # No independent factor on: the email toggle is disabled, with the reason next to it.
    page = signed_in.get("/admin/mfa")
    email = page.text.split('id="factor-email"')[1].split("</li>")[0]
    assert re.search(r'<button type="submit" class="toggle" disabled', email)
    assert "Email can only be enabled while an independent factor" in email
    # Posting anyway is refused by the rule, not only by the disabled button.
    page = post_form(signed_in, "/admin/mfa/factors/email", token, enabled="true")
    assert page.status_code == 400
    assert "email can only be enabled while an independent factor" in page.text
    assert "Enabled" not in page.text.split('id="factor-email"')[1].split("</li>")[0]

    page = post_form(signed_in, "/admin/mfa/factors/otp", token, enabled="true")
    assert "otp is now enabled" in page.text
    email = page.text.split('id="factor-email"')[1].split("</li>")[0]
    assert "disabled aria-describedby" not in email and "can only be enabled" not in email
    page = post_form(signed_in, "/admin/mfa/factors/email", token, enabled="true")
    assert page.status_code == 200 and "email is now enabled" in page.text
    page = post_form(signed_in, "/admin/mfa/factors/recovery-code", token, enabled="true")
    assert "recovery-code is now enabled" in page.text
    rows = {r["id"]: r["enabled"] for r in server.cli_json("factors", "list")}
    assert rows["otp"] and rows["recovery-code"] and rows["email"]
    for action in ("guardian.factor.disable", "guardian.factor.enable"):
        assert_audited(signed_in, admin, action, "otp")


def test_policy_and_factor_settings(
    server: ProviderServer, signed_in: BrowserClient, admin: AdminUser
) -> None:
    token = csrf(signed_in)
    page = post_form(signed_in, "/admin/mfa/policy", token, policy="always")
    assert "MFA policy: always." in page.text
    assert server.cli("mfa", "policy").stdout.strip().endswith("always")
    page = post_form(signed_in, "/admin/mfa/policy", token, policy="never")
    assert_audited(signed_in, admin, "guardian.policy")

    page = post_form(
        signed_in,
        "/admin/mfa/factors/email/settings",
        token,
        code_lifetime="120",
        standalone="true",
    )
    assert "Email settings saved." in page.text
    assert 'id="email-code_lifetime" name="code_lifetime" type="number" value="120"' in page.text
    page = post_form(signed_in, "/admin/mfa/factors/email/settings", token, code_lifetime="900")
    assert page.status_code == 400 and "between 60 and 600 seconds" in page.text
    post_form(signed_in, "/admin/mfa/factors/email/settings", token, standalone="false")
    assert_audited(signed_in, admin, "guardian.factor.settings", "email")


# -- Email provider and templates ------------------------------------------------------------
def test_email_provider_password_is_write_only_and_test_email(
    server: ProviderServer, signed_in: BrowserClient, admin: AdminUser
) -> None:
    token = csrf(signed_in)
    page = signed_in.get("/admin/email")
    assert "No password is set." in page.text and "Send test email" not in page.text
    page = post_form(
        signed_in,
        "/admin/email",
        token,
        enabled="false",  # saved but not used: messages keep going to the built-in provider
        host="127.0.0.1",
        port="2525",
        tls="none",
        user="mailer",
        password="smtp-secret-value",
        **{"from": "provider <no-reply@example.com>"},
    )
    assert page.status_code == 200 and "Email provider saved." in page.text
    assert "A password is set." in page.text
    assert "smtp-secret-value" not in page.text
    assert 'value="127.0.0.1"' in page.text and 'value="mailer"' in page.text

    # Saving again without a password keeps the stored one.
    page = post_form(
        signed_in, "/admin/email", token, enabled="false", host="127.0.0.1", port="2526", tls="none"
    )
    assert "A password is set." in page.text and 'value="2526"' in page.text

    page = post_form(signed_in, "/admin/email/test", token, to="ops@example.com")
    assert "Test email queued for ops@example.com" in page.text
    assert "ops@example.com" in page.text.split("Recent messages")[1]
    assert_audited(signed_in, admin, "email_provider.create", "127.0.0.1")
    assert_audited(signed_in, admin, "email_provider.update")
    assert_audited(signed_in, admin, "email_provider.test_message", "ops@example.com")
    page = post_form(signed_in, "/admin/email/delete", token)
    assert "Email provider removed." in page.text and "No password is set." in page.text


def test_templates_edit_preview_reset(signed_in: BrowserClient, admin: AdminUser) -> None:
    token = csrf(signed_in)
    page = signed_in.get("/admin/templates")
    assert "/admin/templates/mfa_oob_code" in page.text and "Default" in page.text
    draft = {
        "subject": "Code {{ code }} (DRAFT-MARK)",
        "body": "<p>Your code: <b>{{ code }}</b> DRAFT-MARK</p>",
        "text": "Code {{ code }} DRAFT-MARK",
        "from": "",
        "enabled": "true",
    }
    page = post_form(signed_in, "/admin/templates/mfa_oob_code", token, action="preview", **draft)
    assert page.status_code == 200
    assert '<span id="preview-subject">Code 123456 (DRAFT-MARK)</span>' in page.text
    assert "Code 123456 DRAFT-MARK" in page.text
    assert "srcdoc=" in page.text and "sandbox" in page.text
    assert "Customised" not in page.text.split("<h1>")[1].split("</form>")[0]  # not saved yet
    page = post_form(signed_in, "/admin/templates/mfa_oob_code", token, action="save", **draft)
    assert "Template saved." in page.text and "Customised." in page.text
    assert "DRAFT-MARK" in signed_in.get("/admin/templates").text
    page = post_form(signed_in, "/admin/templates/mfa_oob_code/reset", token)
    assert "Template reset to default." in page.text and "DRAFT-MARK" not in page.text
    assert_audited(signed_in, admin, "email_template.update", "mfa_oob_code")
    assert_audited(signed_in, admin, "email_template.reset", "mfa_oob_code")


# -- Users -----------------------------------------------------------------------------------
def test_user_search_detail_and_actions(
    server: ProviderServer, signed_in: BrowserClient, admin: AdminUser
) -> None:
    target = create_user(server, "carol.target@example.com", admin=False, verified=False)
    for n in range(22):
        create_user(server, f"bulk{n:02d}@example.com", admin=False)
    page = signed_in.get("/admin/users?q=carol.target")
    assert f'href="/admin/users/{target.user_id}"' in page.text and "1 user matching" in page.text
    first = signed_in.get("/admin/users")
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = signed_in.get("/admin/users?page=1")
    assert 'rel="prev"' in second.text and "bulk" in second.text

    path = f"/admin/users/{target.user_id}"
    token = csrf(signed_in, path)
    page = post_form(signed_in, path + "/send-verification", token)
    assert "Verification email queued." in page.text
    page = post_form(signed_in, path + "/verify-email", token)
    assert '<dd id="email-verified">yes</dd>' in page.text
    page = post_form(signed_in, path + "/send-verification", token)
    assert page.status_code == 400 and "already verified" in page.text
    page = post_form(signed_in, path + "/reset-mfa", token)
    assert "MFA reset" in page.text
    page = post_form(signed_in, path + "/block", token)
    assert '<dd id="status">Blocked</dd>' in page.text
    page = post_form(signed_in, path + "/unblock", token)
    assert '<dd id="status">Active</dd>' in page.text
    page = post_form(signed_in, f"/admin/users/{admin.user_id}/block", token)
    assert page.status_code == 400 and "cannot block yourself" in page.text

    for action in (
        "user.verification_email",
        "user.update",
        "user.mfa_reset",
    ):
        assert_audited(signed_in, admin, action, target.user_id)


def test_admin_user_detail_lists_authenticators(signed_in: BrowserClient, admin: AdminUser) -> None:
    page = signed_in.get(f"/admin/users/{admin.user_id}")
    assert "<td>otp</td>" in page.text and "<dd>admin</dd>" in page.text


# -- Applications ----------------------------------------------------------------------------
def test_applications_secret_shown_once(
    server: ProviderServer, signed_in: BrowserClient, admin: AdminUser
) -> None:
    token = csrf(signed_in, "/admin/applications/new")
    page = post_form(
        signed_in,
        "/admin/applications/new",
        token,
        name="Billing",
        kind="confidential",
        first_party="false",
        redirect_uris="https://billing.example/cb\nhttps://billing.example/cb2",
        logout_uris="https://billing.example/",
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
    )
    assert page.status_code == 200 and "copy it now" in page.text
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', page.text).group(1)
    secret = re.search(r'<code class="secret" id="client-secret">([^<]+)</code>', page.text).group(
        1
    )
    assert len(secret) >= 20
    for path in ("/admin/applications", f"/admin/applications/{client_id}", "/admin/activity"):
        assert secret not in signed_in.get(path).text, path
    assert "never shown again" in signed_in.get(f"/admin/applications/{client_id}").text

    path = f"/admin/applications/{client_id}"
    page = post_form(
        signed_in,
        path,
        token,
        name="Billing app",
        first_party="true",
        redirect_uris="https://billing.example/new-cb",
        logout_uris="",
        grant_types=["authorization_code", "client_credentials"],
        mfa_policy="always",
    )
    assert "Application saved." in page.text
    record = next(c for c in server.cli_json("clients", "list") if c["client_id"] == client_id)
    assert record["redirect_uris"] == ["https://billing.example/new-cb"]
    assert record["grant_types"] == ["authorization_code", "client_credentials"]
    assert record["name"] == "Billing app" and record["post_logout_redirect_uris"] == []

    page = post_form(signed_in, path + "/rotate", token)
    rotated = re.search(r'id="client-secret">([^<]+)</code>', page.text).group(1)
    assert rotated != secret
    assert rotated not in signed_in.get(path).text

    # The dashboard's own client cannot be changed or deleted from the dashboard.
    page = post_form(signed_in, "/admin/applications/admin-dashboard/delete", token)
    assert "Not deleted" in page.text
    page = post_form(signed_in, "/admin/applications/admin-dashboard", token, name="x")
    assert page.status_code == 400 and "managed by provider" in page.text

    page = post_form(signed_in, path + "/delete", token)
    assert "Application deleted." in page.text and client_id not in page.text
    for action in ("client.create", "client.update", "client.rotate_secret", "client.delete"):
        assert_audited(signed_in, admin, action, client_id)


# -- session expiry and sign-out (last: they end sessions) ------------------------------------
def test_idle_and_absolute_expiry_send_back_to_sign_in(server: ProviderServer) -> None:
    # Fresh admins: each sign-in needs an unused TOTP step, one new secret each avoids waiting.
    admin = create_user(server, "idle-admin@example.com", admin=True)
    browser, page = sign_in(server, admin)
    assert page.status_code == 200
    owned = f"id LIKE 'adm_%' AND user_id = '{admin.user_id}' AND ended_at IS NULL"
    # Idle: the deadline (pushed forward on each request) has passed.
    server.execute_sql(f"UPDATE sessions SET expires_at = {int(time.time()) - 1} WHERE {owned}")
    answer = browser.get("/admin/mfa")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"

    admin = create_user(server, "old-admin@example.com", admin=True)
    owned = f"id LIKE 'adm_%' AND user_id = '{admin.user_id}' AND ended_at IS NULL"
    browser, page = sign_in(server, admin)
    assert page.status_code == 200
    # Absolute: active all along (idle deadline in the future), but signed in 9 hours ago.
    server.execute_sql(
        f"UPDATE sessions SET created_at = created_at - 9 * 3600, "
        f"expires_at = {int(time.time()) + 600} WHERE {owned}"
    )
    answer = browser.get("/admin/users")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"


def test_sign_out(server: ProviderServer) -> None:
    admin = create_user(server, "leaving-admin@example.com", admin=True)
    browser, page = sign_in(server, admin)
    stolen = dict(browser.http.cookies)
    page = post_form(browser, "/admin/logout", csrf_of(page))
    assert page.status_code == 200 and "You are signed out of the dashboard." in page.text
    assert browser.get("/admin/mfa").headers["location"] == "/admin/login"
    # The cookie of the ended session is worthless (the session row is ended, not only the cookie).
    replay = BrowserClient(server.base_url)
    replay.http.cookies.update(stolen)
    assert replay.get("/admin/mfa").headers["location"] == "/admin/login"
