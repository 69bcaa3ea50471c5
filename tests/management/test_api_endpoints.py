"""Every Management API endpoint doing its job against a real server, with the effects checked
where they matter: tokens and sessions ended, secrets rotated, mail actually delivered (to real
SMTP servers capturing it), templates used by the next real MFA email, the audit log naming the
calling client — and the dependent-factor rule holding through the API and the CLI alike."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.mail.smtp_capture import SmtpCapture
from tests.management.helpers import (
    PASSWORD,
    assert_problem,
    audience,
    call,
    machine_client,
    token_for,
)
from tests.mfa_flow import current_totp
from tests.oidc import BrowserClient, hidden_fields, pkce_pair
from tests.servers import ProviderServer, dispose, free_port, new_server

OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
REDIRECT = "http://127.0.0.1:9/callback"
OTHER_API = "https://api.example/"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/verify-email\?token=[A-Za-z0-9._-]+")
MAILER = ("mailer", "s3cret-pass")


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    """Where mail goes by default (PROVIDER_SMTP_URL)."""
    capture = SmtpCapture(free_port()).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def relay() -> Iterator[SmtpCapture]:
    """A second SMTP server, with a login, configured through the email-provider endpoints."""
    capture = SmtpCapture(free_port(), credentials=MAILER).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCapture) -> Iterator[ProviderServer]:
    tmp = tmp_path_factory.mktemp("mgmt-endpoints")
    config = tmp / "provider.toml"
    config.write_text("[mfa.factors.email]\nresend_cooldown = 1\n")
    instance = new_server(
        tmp / "data",
        PROVIDER_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}?tls=none",
        PROVIDER_CONFIG=str(config),
    )
    instance.start()
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def ops(server: ProviderServer) -> dict:
    return machine_client(server)


@pytest.fixture(scope="module")
def token(server: ProviderServer, ops: dict) -> str:
    return token_for(server, ops)


@pytest.fixture
def api(server: ProviderServer, token: str) -> Any:
    def request(method: str, path: str, **kw: Any) -> httpx.Response:
        return call(server, method, path, token, **kw)

    return request


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text[:500])
    if status == 204:
        assert response.content == b""
        return None
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def _app(server: ProviderServer, policy: str = "never") -> dict[str, str]:
    """A confidential first-party client with the password and refresh grants."""
    return server.cli_json(
        "clients",
        "create",
        "--name",
        f"app-{policy}",
        "--first-party",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--mfa-policy",
        policy,
    )


@pytest.fixture(scope="module")
def app(server: ProviderServer) -> dict[str, str]:
    return _app(server)


@pytest.fixture(scope="module")
def mfa_app(server: ProviderServer) -> dict[str, str]:
    return _app(server, "always")


def _unique(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def _new_user(api: Any, email: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"email": email or _unique(), "password": PASSWORD, **fields}
    return ok(api("POST", "/users", json=body), 201)


def _oauth(server: ProviderServer, app: dict[str, str], **params: Any) -> httpx.Response:
    body = {"client_id": app["client_id"], "client_secret": app["client_secret"], **params}
    return httpx.post(server.base_url + "/oauth/token", data=body)


def _password(server: ProviderServer, app: dict[str, str], email: str, **params: Any):  # type: ignore[no-untyped-def]
    params.setdefault("scope", "openid email offline_access")
    return _oauth(server, app, grant_type="password", username=email, password=PASSWORD, **params)


def _signed_in(server: ProviderServer, app: dict[str, str], email: str) -> dict[str, Any]:
    answer = _password(server, app, email)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _mfa_token(server: ProviderServer, app: dict[str, str], email: str) -> str:
    answer = _password(server, app, email)
    assert answer.status_code == 403 and answer.json()["error"] == "mfa_required", answer.text
    return str(answer.json()["mfa_token"])


def _userinfo(server: ProviderServer, access: str) -> int:
    return httpx.get(
        server.base_url + "/userinfo", headers={"Authorization": f"Bearer {access}"}
    ).status_code


def _refresh(server: ProviderServer, app: dict[str, str], refresh: str) -> httpx.Response:
    return _oauth(server, app, grant_type="refresh_token", refresh_token=refresh)


def _factors(api: Any) -> dict[str, bool]:
    return {f["name"]: f["enabled"] for f in ok(api("GET", "/guardian/factors"))}


def _set_factors(api: Any, **wanted: bool) -> None:
    """Bring factors to a state, in an order the dependent-factor rule allows."""
    names = {k.replace("_", "-"): v for k, v in wanted.items()}
    current = _factors(api)
    ons = sorted((n for n, v in names.items() if v), key=lambda n: n != "otp")
    offs = sorted((n for n, v in names.items() if not v), key=lambda n: n == "otp")
    for name in ons + offs:
        if current[name] != names[name]:
            ok(api("PUT", f"/guardian/factors/{name}", json={"enabled": names[name]}))
    assert {n: _factors(api)[n] for n in names} == names


def _email_standalone(api: Any) -> None:
    _set_factors(api, otp=True, email=True)
    ok(api("PATCH", "/guardian/factors/email/settings", json={"standalone": True}))


def _plain(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def _mail_to(capture: SmtpCapture, address: str, count: int = 1) -> list[Any]:
    found = capture.wait_for(
        lambda got: sum(address in r.rcpt_tos for r in got) >= count, timeout=30
    )
    return [r.message for r in found if address in r.rcpt_tos]


def _challenge_email(server: ProviderServer, app: dict[str, str], mfa_token: str) -> dict:
    answer = httpx.post(
        server.base_url + "/mfa/challenge",
        json={
            "mfa_token": mfa_token,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "challenge_type": "oob",
        },
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _enroll_totp(server: ProviderServer, app: dict[str, str], email: str) -> tuple[str, str]:
    """Enroll TOTP through the MFA API: (TOTP secret, first recovery code)."""
    mfa_token = _mfa_token(server, app, email)
    associated = httpx.post(
        server.base_url + "/mfa/associate",
        json={"authenticator_types": ["otp"]},
        headers={"Authorization": f"Bearer {mfa_token}"},
    )
    assert associated.status_code == 200, associated.text
    body = associated.json()
    done = _oauth(
        server, app, grant_type=OTP, mfa_token=mfa_token, otp=current_totp(body["secret"])
    )
    assert done.status_code == 200, done.text
    return body["secret"], body["recovery_codes"][0]


def _audit(api: Any) -> list[dict[str, Any]]:
    return list(ok(api("GET", "/logs", params={"per_page": 100})))


# -- guardian --------------------------------------------------------------------------------
def test_list_factors(api: Any) -> None:
    factors = ok(api("GET", "/guardian/factors"))
    assert [f["name"] for f in factors][:3] == ["otp", "recovery-code", "email"]
    for factor in factors:
        assert set(factor) == {"name", "enabled", "trial_expired"}
        assert isinstance(factor["enabled"], bool) and factor["trial_expired"] is False
    assert {f["name"]: f["enabled"] for f in factors}["otp"] is True


def test_put_factor_toggles_and_is_seen_by_the_cli(server: ProviderServer, api: Any) -> None:
    assert ok(api("PUT", "/guardian/factors/email", json={"enabled": True})) == {"enabled": True}
    assert _factors(api)["email"] is True
    listed = {f["id"]: f["enabled"] for f in server.cli_json("factors", "list")}
    assert listed["email"] is True
    assert ok(api("PUT", "/guardian/factors/email", json={"enabled": False})) == {"enabled": False}
    assert {f["id"]: f["enabled"] for f in server.cli_json("factors", "list")}["email"] is False
    assert_problem(api("PUT", "/guardian/factors/sms", json={"enabled": True}), 404)


def test_factor_settings_get_and_patch(api: Any) -> None:
    settings = ok(api("GET", "/guardian/factors/email/settings"))
    assert settings["code_lifetime"] == 300 and settings["resend_cooldown"] == 1
    merged = ok(api("PATCH", "/guardian/factors/email/settings", json={"code_lifetime": 120}))
    assert merged["code_lifetime"] == 120 and merged["resend_cooldown"] == 1
    assert ok(api("GET", "/guardian/factors/email/settings"))["code_lifetime"] == 120
    assert_problem(
        api("PATCH", "/guardian/factors/email/settings", json={"code_lifetime": 6000}), 400
    )
    assert_problem(api("PATCH", "/guardian/factors/email/settings", json={"colour": "red"}), 400)
    assert_problem(api("PATCH", "/guardian/factors/email/settings", json={"enabled": True}), 400)
    assert ok(api("GET", "/guardian/factors/email/settings"))["code_lifetime"] == 120
    ok(api("PATCH", "/guardian/factors/email/settings", json={"code_lifetime": 300}))
    assert_problem(api("GET", "/guardian/factors/nope/settings"), 404)
    assert_problem(api("PATCH", "/guardian/factors/nope/settings", json={}), 404)


def test_policies_get_put_and_effect(server: ProviderServer, api: Any) -> None:
    default_app = server.cli_json(
        "clients", "create", "--name", "policy-app", "--first-party", "--grant-type", "password"
    )
    email = _new_user(api, email_verified=True)["email"]
    assert ok(api("GET", "/guardian/policies")) == []
    assert _password(server, default_app, email).status_code == 200
    assert ok(api("PUT", "/guardian/policies", json=["all-applications"])) == ["all-applications"]
    assert ok(api("GET", "/guardian/policies")) == ["all-applications"]
    assert "always" in server.cli("mfa", "policy").stdout
    refused = _password(server, default_app, email)
    assert refused.status_code == 403 and refused.json()["error"] == "mfa_required"
    assert ok(api("PUT", "/guardian/policies", json=[])) == []
    assert "never" in server.cli("mfa", "policy").stdout
    assert _password(server, default_app, email).status_code == 200
    assert_problem(api("PUT", "/guardian/policies", json=["some-applications"]), 400)
    assert_problem(api("PUT", "/guardian/policies", json=["all-applications"] * 2), 400)
    assert ok(api("GET", "/guardian/policies")) == []


# -- the dependent-factor rule, through the API and the CLI ----------------------------------
def test_dependent_factor_rule_through_the_api(api: Any) -> None:
    _set_factors(api, email=False, recovery_code=False)
    ok(api("PUT", "/guardian/factors/otp", json={"enabled": False}))  # nothing depends on it
    assert not any(_factors(api).values())
    # email (dependent) is refused while no independent factor is on; so is recovery-code
    body = assert_problem(api("PUT", "/guardian/factors/email", json={"enabled": True}), 400)
    assert "independent" in body["message"]
    assert_problem(api("PUT", "/guardian/factors/recovery-code", json={"enabled": True}), 400)
    assert _factors(api)["email"] is False
    ok(api("PUT", "/guardian/factors/otp", json={"enabled": True}))
    ok(api("PUT", "/guardian/factors/email", json={"enabled": True}))
    # disabling otp while email depends on it is refused, and says what to disable first
    body = assert_problem(api("PUT", "/guardian/factors/otp", json={"enabled": False}), 400)
    assert "email" in body["message"] and "disable that first" in body["message"]
    assert _factors(api)["otp"] is True
    # another independent factor makes otp optional
    ok(api("PUT", "/guardian/factors/example-pin", json={"enabled": True}))
    ok(api("PUT", "/guardian/factors/otp", json={"enabled": False}))
    assert_problem(api("PUT", "/guardian/factors/example-pin", json={"enabled": False}), 400)
    _set_factors(api, otp=True, recovery_code=True, email=False, example_pin=False)


def _cli_refused(result: Any, fragment: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], (
        result.stderr
    )


def test_dependent_factor_rule_through_the_cli(server: ProviderServer, api: Any) -> None:
    _set_factors(api, email=False, recovery_code=False)
    server.cli("factors", "disable", "otp")
    assert not any(_factors(api).values())
    _cli_refused(server.cli("factors", "enable", "email", check=False), "independent")
    _cli_refused(server.cli("factors", "enable", "recovery-code", check=False), "independent")
    assert _factors(api)["email"] is False
    assert "otp enabled" in server.cli("factors", "enable", "otp").stdout
    assert "email enabled" in server.cli("factors", "enable", "email").stdout
    assert _factors(api) == {**_factors(api), "otp": True, "email": True}
    _cli_refused(server.cli("factors", "disable", "otp", check=False), "disable that first")
    assert _factors(api)["otp"] is True
    _cli_refused(server.cli("factors", "enable", "sms", check=False), "sms")
    # the API sees what the CLI did and refuses the same way
    assert_problem(api("PUT", "/guardian/factors/otp", json={"enabled": False}), 400)
    _set_factors(api, otp=True, recovery_code=True, email=False)


# -- email provider --------------------------------------------------------------------------
def test_email_provider_lifecycle_and_write_only_password(
    api: Any, relay: SmtpCapture, smtp: SmtpCapture
) -> None:
    assert_problem(api("GET", "/emails/provider"), 404)
    assert_problem(api("PATCH", "/emails/provider", json={"enabled": False}), 404)
    assert_problem(api("POST", "/emails/provider/test"), 404)
    credentials = {
        "smtp_host": "127.0.0.1",
        "smtp_port": relay.port,
        "smtp_user": MAILER[0],
        "smtp_pass": MAILER[1],
        "smtp_tls": "none",
    }
    created = ok(
        api(
            "POST",
            "/emails/provider",
            json={
                "name": "smtp",
                "enabled": True,
                "default_from_address": "auth@example.com",
                "credentials": credentials,
            },
        ),
        201,
    )
    assert created["credentials"] == {k: v for k, v in credentials.items() if k != "smtp_pass"}
    assert created["name"] == "smtp" and created["enabled"] is True
    assert created["default_from_address"] == "auth@example.com"
    shown = api("GET", "/emails/provider")
    assert ok(shown) == created
    assert MAILER[1] not in shown.text and "smtp_pass" not in shown.text
    assert_problem(api("POST", "/emails/provider", json={"credentials": credentials}), 409)

    # the stored configuration, with the stored (never shown) password, logs in
    checked = ok(api("POST", "/emails/provider/test"))
    assert checked["ok"] is True, checked
    assert str(relay.port) in checked["message"]

    # PATCH without the password keeps it; the answer still hides it
    patched = ok(api("PATCH", "/emails/provider", json={"credentials": {"smtp_user": "mailer"}}))
    assert "smtp_pass" not in patched["credentials"]
    assert patched["credentials"]["smtp_port"] == relay.port
    assert ok(api("POST", "/emails/provider/test"))["ok"] is True

    # a wrong password is stored (write-only) and then fails the check
    ok(api("PATCH", "/emails/provider", json={"credentials": {"smtp_pass": "wrong"}}))
    failed = ok(api("POST", "/emails/provider/test"))
    assert failed["ok"] is False and "authentication failed" in failed["message"]
    ok(api("PATCH", "/emails/provider", json={"credentials": {"smtp_pass": MAILER[1]}}))

    # a configuration given in the body is checked without being saved
    closed = free_port()
    unreachable = ok(
        api(
            "POST",
            "/emails/provider/test",
            json={"credentials": {**credentials, "smtp_port": closed}},
        )
    )
    assert unreachable["ok"] is False and "cannot reach" in unreachable["message"]
    good = ok(api("POST", "/emails/provider/test", json={"credentials": credentials}))
    assert good["ok"] is True
    against_capture = ok(
        api(
            "POST",
            "/emails/provider/test",
            json={
                "credentials": {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "smtp_tls": "none",
                }
            },
        )
    )
    assert against_capture["ok"] is True
    assert ok(api("GET", "/emails/provider"))["credentials"]["smtp_port"] == relay.port

    # with `to`, a test message goes out through the configured provider (the relay)
    before_default = len(smtp.snapshot())
    sent = ok(api("POST", "/emails/provider/test", json={"to": "ops-check@example.com"}))
    assert sent["ok"] is True and sent["message_id"]
    messages = _mail_to(relay, "ops-check@example.com")
    assert messages[0]["From"] and "auth@example.com" in messages[0]["From"]
    assert not any("ops-check@example.com" in r.rcpt_tos for r in smtp.snapshot()[before_default:])
    assert_problem(
        api("POST", "/emails/provider/test", json={"to": "not an address\r\nBcc: x@y"}), 400
    )

    # invalid configurations are refused and change nothing
    for bad in (
        {"credentials": {"smtp_port": 0}},
        {"credentials": {"smtp_host": "two words"}},
        {"credentials": {"smtp_tls": "ssl"}},
        {"default_from_address": "no-at-sign"},
        {"name": "sendgrid"},
    ):
        assert_problem(api("PATCH", "/emails/provider", json=bad), 400)
    assert ok(api("GET", "/emails/provider"))["credentials"]["smtp_port"] == relay.port

    ok(api("DELETE", "/emails/provider"), 204)
    assert_problem(api("GET", "/emails/provider"), 404)
    assert_problem(api("DELETE", "/emails/provider"), 404)


# -- email templates -------------------------------------------------------------------------
def test_templates_get_patch_preview_reset(api: Any) -> None:
    for name in ("mfa_oob_code", "verify_email"):
        template = ok(api("GET", f"/email-templates/{name}"))
        assert template["template"] == name and template["syntax"] == "jinja2"
        assert template["enabled"] is True and template["from"] is None
        assert template["subject"] and template["body"] and template["text"]
    original = ok(api("GET", "/email-templates/verify_email"))
    preview = ok(api("POST", "/email-templates/verify_email/preview"))
    assert "https://auth.example.com/verify-email?t=sample" in preview["text"]
    assert "{{" not in preview["subject"] + preview["text"]
    draft = ok(
        api(
            "POST",
            "/email-templates/mfa_oob_code/preview",
            json={
                "subject": "Code {{ code }} for {{ user.name }}",
                "text": "t {{ lifetime_minutes }}",
            },
        )
    )
    assert draft["subject"] == "Code 123456 for Jane" and draft["text"] == "t 5"
    # a preview saves nothing
    assert ok(api("GET", "/email-templates/mfa_oob_code"))["subject"] != draft["subject"]

    changed = ok(
        api(
            "PATCH",
            "/email-templates/verify_email",
            json={"subject": "Please confirm {{ user.email }}", "from": "hello@example.com"},
        )
    )
    assert changed["subject"] == "Please confirm {{ user.email }}"
    assert changed["from"] == "hello@example.com" and changed["body"] == original["body"]
    assert ok(api("POST", "/email-templates/verify_email/preview"))["subject"] == (
        "Please confirm jane@example.com"
    )
    replaced = ok(
        api(
            "PUT",
            "/email-templates/verify_email",
            json={"template": "verify_email", "subject": "Confirm", "text": "Go: {{ url }}"},
        )
    )
    assert replaced["subject"] == "Confirm" and replaced["text"] == "Go: {{ url }}"
    reset = ok(api("DELETE", "/email-templates/verify_email"))
    assert reset == original
    assert ok(api("GET", "/email-templates/verify_email")) == original


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{{ lipsum.__globals__ }}",
        "{% include '/etc/passwd' %}",
        "{{ unclosed",
        "{{ 1 / 0 }}",
        "{{ range(10) | list | random | undefined_filter }}",
    ],
)
def test_template_sandbox_escape_is_refused(api: Any, source: str) -> None:
    before = ok(api("GET", "/email-templates/mfa_oob_code"))
    for field in ("body", "text", "subject"):
        assert_problem(api("PATCH", "/email-templates/mfa_oob_code", json={field: source}), 400)
        assert_problem(
            api("POST", "/email-templates/mfa_oob_code/preview", json={field: source}), 400
        )
    assert ok(api("GET", "/email-templates/mfa_oob_code")) == before


def test_template_refuses_bad_fields(api: Any) -> None:
    assert_problem(api("GET", "/email-templates/welcome_email"), 404)
    assert_problem(api("PATCH", "/email-templates/welcome_email", json={}), 404)
    assert_problem(api("POST", "/email-templates/reset_email/preview"), 404)
    assert_problem(api("DELETE", "/email-templates/reset_email"), 404)
    patch = "/email-templates/mfa_oob_code"
    assert_problem(api("PATCH", patch, json={"template": "verify_email"}), 400)
    assert_problem(api("PATCH", patch, json={"subject": "a\r\nBcc: evil@example.com"}), 400)
    assert_problem(api("PATCH", patch, json={"from": "not-an-address"}), 400)
    assert_problem(api("PATCH", patch, json={"syntax": "liquid"}), 400)
    assert_problem(api("PATCH", patch, json={"text": "x" * 70_000}), 413)  # the body limit


def test_patched_template_is_used_by_the_next_mfa_email(
    server: ProviderServer, api: Any, mfa_app: dict[str, str], smtp: SmtpCapture
) -> None:
    """PATCH email_verified makes email MFA available to the user; PATCH mfa_oob_code changes
    the next real code email; DELETE puts the built-in one back."""
    _email_standalone(api)
    user = _new_user(api, email_verified=False)
    email = user["email"]
    try:
        mfa_token = _mfa_token(server, mfa_app, email)
        assert not any(
            a["authenticator_type"] == "oob"
            for a in ok(api("GET", f"/users/{user['user_id']}/authenticators"))
        )
        listed = httpx.get(
            server.base_url + "/mfa/authenticators",
            headers={"Authorization": f"Bearer {mfa_token}"},
        )
        assert listed.status_code == 200 and not any(
            a.get("oob_channel") == "email" for a in listed.json()
        ), listed.text
        verified = ok(api("PATCH", f"/users/{user['user_id']}", json={"email_verified": True}))
        assert verified["email_verified"] is True
        emails = [
            a
            for a in ok(api("GET", f"/users/{user['user_id']}/authenticators"))
            if a["authenticator_type"] == "oob"
        ]
        assert len(emails) == 1 and emails[0]["oob_channel"] == "email"

        ok(
            api(
                "PATCH",
                "/email-templates/mfa_oob_code",
                json={
                    "subject": "Management test code {{ code }}",
                    "text": "MGMT-TEMPLATE code={{ code }} for {{ user.email }}",
                    "body": "<p>MGMT-TEMPLATE <b>{{ code }}</b></p>",
                },
            )
        )
        mfa_token = _mfa_token(server, mfa_app, email)
        challenge = _challenge_email(server, mfa_app, mfa_token)
        message = _mail_to(smtp, email)[-1]
        match = re.fullmatch(r"Management test code (\d{6})", str(message["Subject"]))
        assert match, message["Subject"]
        assert _plain(message).strip() == f"MGMT-TEMPLATE code={match.group(1)} for {email}"
        done = _oauth(
            server,
            mfa_app,
            grant_type=OOB,
            mfa_token=mfa_token,
            oob_code=challenge["oob_code"],
            binding_code=match.group(1),
        )
        assert done.status_code == 200, done.text

        ok(api("DELETE", "/email-templates/mfa_oob_code"))
        time.sleep(1.1)  # the resend cooldown (1 s) configured for this server
        mfa_token = _mfa_token(server, mfa_app, email)
        _challenge_email(server, mfa_app, mfa_token)
        message = _mail_to(smtp, email, 2)[-1]
        assert "Management test code" not in str(message["Subject"])
        assert "MGMT-TEMPLATE" not in _plain(message)
        assert re.search(r"verification code for .* is: \d{6}", _plain(message))
    finally:
        ok(api("DELETE", "/email-templates/mfa_oob_code"))
        ok(api("PATCH", "/guardian/factors/email/settings", json={"standalone": False}))
        _set_factors(api, email=False)


# -- users -----------------------------------------------------------------------------------
def test_user_create_get_patch_delete(api: Any, server: ProviderServer) -> None:
    email = _unique("crud")
    created = ok(
        api("POST", "/users", json={"email": email, "password": PASSWORD, "name": "Crud"}), 201
    )
    assert set(created) >= {"user_id", "email", "email_verified", "name", "blocked", "created_at"}
    assert created["email"] == email and created["name"] == "Crud"
    assert created["email_verified"] is False and created["blocked"] is False
    assert "password" not in str(created) and PASSWORD not in str(created)
    user_id = created["user_id"]
    assert ok(api("GET", f"/users/{user_id}")) == created
    assert any(u["email"] == email for u in server.cli_json("users", "list"))
    new_email = _unique("renamed")
    patched = ok(
        api(
            "PATCH",
            f"/users/{user_id}",
            json={"name": "Renamed", "email": new_email.upper(), "email_verified": True},
        )
    )
    assert patched["name"] == "Renamed" and patched["email"] == new_email
    assert patched["email_verified"] is True
    assert ok(api("PATCH", f"/users/{user_id}", json={"name": None}))["name"] is None
    assert ok(api("GET", f"/users/{user_id}"))["email"] == new_email
    # a user without a password, created verified, and the connection named as Auth0 names it
    bare = ok(
        api(
            "POST",
            "/users",
            json={
                "email": _unique("bare"),
                "connection": "Username-Password-Authentication",
                "email_verified": True,
            },
        ),
        201,
    )
    assert bare["email_verified"] is True
    ok(api("DELETE", f"/users/{user_id}"), 204)
    assert_problem(api("GET", f"/users/{user_id}"), 404)
    assert_problem(api("DELETE", f"/users/{user_id}"), 404)
    assert not any(u["email"] == new_email for u in server.cli_json("users", "list"))


def test_duplicate_email_is_409(api: Any) -> None:
    email = _unique("dup")
    first = _new_user(api, email)
    assert_problem(api("POST", "/users", json={"email": email}), 409)
    assert_problem(api("POST", "/users", json={"email": email.upper()}), 409)
    other = _new_user(api)
    assert_problem(api("PATCH", f"/users/{other['user_id']}", json={"email": email}), 409)
    assert ok(api("GET", f"/users/{first['user_id']}"))["email"] == email


def test_users_search_and_pagination(api: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [
        _new_user(api, f"pager-{tag}-{i}@example.com", name=f"Pager {tag} {i}") for i in range(5)
    ]
    ids = {u["user_id"] for u in made}
    found = ok(api("GET", "/users", params={"q": f"pager-{tag}"}))
    assert isinstance(found, list) and {u["user_id"] for u in found} == ids
    by_name = ok(api("GET", "/users", params={"q": f"Pager {tag} 3"}))
    assert [u["user_id"] for u in by_name] == [made[3]["user_id"]]
    by_id = ok(api("GET", "/users", params={"q": made[1]["user_id"]}))
    assert [u["user_id"] for u in by_id] == [made[1]["user_id"]]
    assert ok(api("GET", "/users", params={"q": f"nobody-{tag}"})) == []
    seen: list[str] = []
    for page, size in ((0, 2), (1, 2), (2, 1)):
        answer = ok(
            api(
                "GET",
                "/users",
                params={"q": f"pager-{tag}", "page": page, "per_page": 2, "include_totals": "true"},
            )
        )
        assert set(answer) == {"users", "start", "limit", "length", "total"}
        assert answer["start"] == page * 2 and answer["limit"] == 2
        assert answer["total"] == 5 and answer["length"] == size == len(answer["users"])
        seen += [u["user_id"] for u in answer["users"]]
    assert sorted(seen) == sorted(ids)  # no overlap, nothing missed
    beyond = ok(
        api("GET", "/users", params={"q": f"pager-{tag}", "page": 9, "include_totals": "true"})
    )
    assert beyond["users"] == [] and beyond["total"] == 5
    everyone = ok(api("GET", "/users", params={"include_totals": "true", "per_page": 100}))
    assert everyone["total"] >= 6 and everyone["length"] == len(everyone["users"])


def test_blocking_a_user_ends_sessions_and_tokens(
    server: ProviderServer, api: Any, app: dict[str, str]
) -> None:
    user = _new_user(api, email_verified=True)
    tokens = _signed_in(server, app, user["email"])
    assert _userinfo(server, tokens["access_token"]) == 200
    # a browser session, too
    spa = server.cli_json(
        "clients",
        "create",
        "--name",
        "spa",
        "--public",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
    )["client_id"]
    browser = BrowserClient(server.base_url)
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": spa,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    browser.sign_in(user["email"], PASSWORD, **params)
    again = browser.follow_local(browser.start(**params))
    assert again.status_code == 302 and again.headers["location"].startswith(REDIRECT)

    blocked = ok(api("PATCH", f"/users/{user['user_id']}", json={"blocked": True}))
    assert blocked["blocked"] is True
    assert _userinfo(server, tokens["access_token"]) == 401
    refreshed = _refresh(server, app, tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert _password(server, app, user["email"]).status_code in (400, 401, 403)
    after = browser.follow_local(browser.start(**params))
    assert after.status_code == 200 and 'action="/login"' in after.text  # signed out
    browser.close()

    assert (
        ok(api("PATCH", f"/users/{user['user_id']}", json={"blocked": False}))["blocked"] is False
    )
    assert _password(server, app, user["email"]).status_code == 200
    # the old refresh token stays dead after unblocking
    assert _refresh(server, app, tokens["refresh_token"]).status_code == 400


def test_new_password_ends_tokens_and_works(
    server: ProviderServer, api: Any, app: dict[str, str]
) -> None:
    user = _new_user(api, email_verified=True)
    tokens = _signed_in(server, app, user["email"])
    ok(api("PATCH", f"/users/{user['user_id']}", json={"password": "another-pass-456"}))
    assert _userinfo(server, tokens["access_token"]) == 401
    assert _refresh(server, app, tokens["refresh_token"]).status_code == 400
    assert _password(server, app, user["email"]).status_code != 200
    answer = _oauth(
        server,
        app,
        grant_type="password",
        username=user["email"],
        password="another-pass-456",
        scope="openid",
    )
    assert answer.status_code == 200, answer.text
    assert_problem(api("PATCH", f"/users/{user['user_id']}", json={"password": "short"}), 400)


def test_delete_user_revokes_their_tokens(
    server: ProviderServer, api: Any, app: dict[str, str]
) -> None:
    user = _new_user(api, email_verified=True)
    tokens = _signed_in(server, app, user["email"])
    assert _userinfo(server, tokens["access_token"]) == 200
    ok(api("DELETE", f"/users/{user['user_id']}"), 204)
    assert _userinfo(server, tokens["access_token"]) == 401
    assert _refresh(server, app, tokens["refresh_token"]).status_code == 400
    introspected = httpx.post(
        server.base_url + "/oauth/introspect",
        data={
            "token": tokens["access_token"],
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert introspected.status_code == 200 and introspected.json() == {"active": False}
    # a new user with the same email gets nothing of the old one's
    again = _new_user(api, user["email"])
    assert again["user_id"] != user["user_id"]
    assert _userinfo(server, tokens["access_token"]) == 401


def test_authenticators_list_delete_and_reset(
    server: ProviderServer, api: Any, mfa_app: dict[str, str]
) -> None:
    _set_factors(api, otp=True, recovery_code=True, email=True)
    try:
        user = _new_user(api, email_verified=True)
        path = f"/users/{user['user_id']}/authenticators"
        _enroll_totp(server, mfa_app, user["email"])
        listed = ok(api("GET", path))
        kinds = sorted(a["authenticator_type"] for a in listed)
        assert kinds == ["oob", "otp", "recovery-code"], listed
        assert all(a["active"] for a in listed)
        otp = next(a for a in listed if a["authenticator_type"] == "otp")
        implicit = next(a for a in listed if a["authenticator_type"] == "oob")
        assert_problem(api("DELETE", f"{path}/{implicit['id']}"), 400, "verified email")
        assert_problem(api("DELETE", f"{path}/nope"), 404)
        ok(api("DELETE", f"{path}/{otp['id']}"), 204)
        assert "otp" not in {a["authenticator_type"] for a in ok(api("GET", path))}
        assert_problem(api("DELETE", f"{path}/{otp['id']}"), 404)

        # re-enroll, then reset everything: the user is asked to enroll again
        _enroll_totp(server, mfa_app, user["email"])
        assert "otp" in {a["authenticator_type"] for a in ok(api("GET", path))}
        ok(api("DELETE", path), 204)
        left = ok(api("GET", path))
        assert {a["authenticator_type"] for a in left} <= {"oob"}  # only the implicit email
        answer = _password(server, mfa_app, user["email"])
        assert answer.status_code == 403 and answer.json()["error"] == "mfa_required"
        _enroll_totp(server, mfa_app, user["email"])  # enrollment is offered again
        assert_problem(api("GET", "/users/nobody/authenticators"), 404)
        assert_problem(api("DELETE", "/users/nobody/authenticators"), 404)
    finally:
        _set_factors(api, email=False)


def test_reset_lifts_an_mfa_lock(server: ProviderServer, api: Any, mfa_app: dict[str, str]) -> None:
    user = _new_user(api, email_verified=True)
    secret, _ = _enroll_totp(server, mfa_app, user["email"])
    mfa_token = _mfa_token(server, mfa_app, user["email"])
    statuses = []
    for _ in range(12):
        wrong = _oauth(server, mfa_app, grant_type=OTP, mfa_token=mfa_token, otp="000000")
        statuses.append(wrong.status_code)
        if wrong.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    ok(api("DELETE", f"/users/{user['user_id']}/authenticators"), 204)
    # unlocked: the user can enroll again and complete sign-in
    _enroll_totp(server, mfa_app, user["email"])


def test_recovery_code_regeneration_returns_a_working_code(
    server: ProviderServer, api: Any, mfa_app: dict[str, str]
) -> None:
    user = _new_user(api, email_verified=True)
    _, first = _enroll_totp(server, mfa_app, user["email"])
    path = f"/users/{user['user_id']}/recovery-code-regeneration"
    fresh = ok(api("POST", path))["recovery_code"]
    assert isinstance(fresh, str) and fresh and fresh != first
    old = _oauth(
        server,
        mfa_app,
        grant_type=RECOVERY,
        mfa_token=_mfa_token(server, mfa_app, user["email"]),
        recovery_code=first,
    )
    assert old.status_code == 403, old.text
    new = _oauth(
        server,
        mfa_app,
        grant_type=RECOVERY,
        mfa_token=_mfa_token(server, mfa_app, user["email"]),
        recovery_code=fresh,
    )
    assert new.status_code == 200, new.text
    assert_problem(api("POST", "/users/nobody/recovery-code-regeneration"), 404)
    # with the factor off there is nothing to regenerate
    ok(api("PUT", "/guardian/factors/recovery-code", json={"enabled": False}))
    try:
        assert_problem(api("POST", path), 400, "not enabled")
    finally:
        ok(api("PUT", "/guardian/factors/recovery-code", json={"enabled": True}))


def test_verification_email_job(server: ProviderServer, api: Any, smtp: SmtpCapture) -> None:
    user = _new_user(api)
    job = ok(api("POST", "/jobs/verification-email", json={"user_id": user["user_id"]}), 201)
    assert job["type"] == "verification_email" and job["status"] == "pending"
    assert isinstance(job["created_at"], int) and job["id"]
    message = _mail_to(smtp, user["email"])[-1]
    link = LINK.search(_plain(message))
    assert link, _plain(message)
    deadline = time.monotonic() + 30
    while (status := ok(api("GET", f"/jobs/{job['id']}"))["status"]) != "completed":
        assert status == "pending" and time.monotonic() < deadline, status
        time.sleep(0.2)
    assert ok(api("GET", f"/jobs/{job['id']}")) == {**job, "status": "completed"}
    # the link works, and the user is then verified
    browser = BrowserClient(server.base_url)
    parts = urlsplit(link.group(0))
    page = browser.get(f"{parts.path}?{parts.query}")
    confirmed = browser.post("/verify-email", data=hidden_fields(page.text))
    browser.close()
    assert "Email verified" in confirmed.text
    assert ok(api("GET", f"/users/{user['user_id']}"))["email_verified"] is True
    assert_problem(
        api("POST", "/jobs/verification-email", json={"user_id": user["user_id"]}),
        400,
        "already verified",
    )
    assert_problem(api("POST", "/jobs/verification-email", json={"user_id": "nobody"}), 404)
    assert_problem(api("GET", "/jobs/nope"), 404)


def test_create_user_with_verify_email_sends_it(api: Any, smtp: SmtpCapture) -> None:
    user = _new_user(api, verify_email=True)
    assert LINK.search(_plain(_mail_to(smtp, user["email"])[-1]))
    verified = _new_user(api, email_verified=True, verify_email=True)
    assert verified["email_verified"] is True


# -- clients ---------------------------------------------------------------------------------
def test_client_crud(api: Any, server: ProviderServer) -> None:
    created = ok(
        api(
            "POST",
            "/clients",
            json={
                "name": "web app",
                "callbacks": ["https://rp.example/cb"],
                "allowed_logout_urls": ["https://rp.example/"],
                "is_first_party": True,
            },
        ),
        201,
    )
    client_id = created["client_id"]
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert created["token_endpoint_auth_method"] == "client_secret_post"
    assert created["client_secret"] and created["is_first_party"] is True
    shown = ok(api("GET", f"/clients/{client_id}"))
    assert "client_secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "client_secret"}
    patched = ok(
        api(
            "PATCH",
            f"/clients/{client_id}",
            json={
                "name": "renamed",
                "callbacks": ["https://rp.example/other"],
                "mfa_policy": "always",
            },
        )
    )
    assert patched["name"] == "renamed" and patched["callbacks"] == ["https://rp.example/other"]
    assert patched["mfa_policy"] == "always" and patched["allowed_logout_urls"] == [
        "https://rp.example/"
    ]
    assert ok(api("GET", f"/clients/{client_id}")) == patched
    assert any(c["client_id"] == client_id for c in server.cli_json("clients", "list"))
    public = ok(
        api(
            "POST",
            "/clients",
            json={"name": "spa", "token_endpoint_auth_method": "none", "callbacks": [REDIRECT]},
        ),
        201,
    )
    assert "client_secret" not in public and public["token_endpoint_auth_method"] == "none"
    assert_problem(api("POST", f"/clients/{public['client_id']}/rotate-secret"), 400)
    # rules shared with the CLI
    assert_problem(api("POST", "/clients", json={"name": "x"}), 400, "grant type")
    assert_problem(api("POST", "/clients", json={"name": "x", "grant_types": ["implicit"]}), 400)
    assert_problem(
        api("POST", "/clients", json={"name": "x", "callbacks": ["https://rp.example/#frag"]}), 400
    )
    assert_problem(api("PATCH", f"/clients/{client_id}", json={"callbacks": []}), 400)
    assert_problem(api("PATCH", f"/clients/{client_id}", json={}), 400)
    ok(api("DELETE", f"/clients/{client_id}"), 204)
    assert_problem(api("GET", f"/clients/{client_id}"), 404)
    assert_problem(api("DELETE", f"/clients/{client_id}"), 404)
    assert_problem(api("PATCH", f"/clients/{client_id}", json={"name": "y"}), 404)
    assert_problem(api("POST", f"/clients/{client_id}/rotate-secret"), 404)


def test_clients_pagination(api: Any) -> None:
    for i in range(3):
        ok(
            api(
                "POST",
                "/clients",
                json={"name": f"paged {i}", "grant_types": ["client_credentials"]},
            ),
            201,
        )
    everything = ok(api("GET", "/clients", params={"per_page": 100}))
    assert isinstance(everything, list) and len(everything) >= 4
    total = len(everything)
    seen = []
    page = 0
    while True:
        answer = ok(
            api("GET", "/clients", params={"page": page, "per_page": 3, "include_totals": "true"})
        )
        assert answer["total"] == total and answer["start"] == page * 3 and answer["limit"] == 3
        assert answer["length"] == len(answer["clients"])
        if not answer["clients"]:
            break
        seen += [c["client_id"] for c in answer["clients"]]
        page += 1
    assert seen == [c["client_id"] for c in everything]


def test_rotate_secret(server: ProviderServer, api: Any) -> None:
    created = ok(
        api(
            "POST",
            "/clients",
            json={
                "name": "machine",
                "grant_types": ["client_credentials"],
                "api_audiences": [OTHER_API],
                "api_scopes": ["read:things"],
            },
        ),
        201,
    )
    old = {"client_id": created["client_id"], "client_secret": created["client_secret"]}
    assert token_for(server, old, aud=OTHER_API)
    rotated = ok(api("POST", f"/clients/{created['client_id']}/rotate-secret"))
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] and rotated["client_secret"] != created["client_secret"]
    refused = httpx.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials", "audience": OTHER_API, **old},
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    new = {"client_id": created["client_id"], "client_secret": rotated["client_secret"]}
    assert token_for(server, new, aud=OTHER_API)
    assert "client_secret" not in ok(api("GET", f"/clients/{created['client_id']}"))


def test_deleted_clients_tokens_stop_working(server: ProviderServer, api: Any) -> None:
    created = ok(
        api(
            "POST",
            "/clients",
            json={
                "name": "doomed app",
                "is_first_party": True,
                "grant_types": ["password", "refresh_token"],
                "mfa_policy": "never",
                "api_audiences": [OTHER_API],
                "api_scopes": ["read:things"],
            },
        ),
        201,
    )
    user = _new_user(api, email_verified=True)
    answer = _password(
        server,
        created,
        user["email"],
        audience=OTHER_API,
        scope="openid read:things offline_access",
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    introspector = server.cli_json(
        "clients",
        "create",
        "--name",
        "introspector",
        "--grant-type",
        "client_credentials",
        "--audience",
        OTHER_API,
    )

    def active() -> bool:
        answer = httpx.post(
            server.base_url + "/oauth/introspect",
            data={
                "token": tokens["access_token"],
                "client_id": introspector["client_id"],
                "client_secret": introspector["client_secret"],
            },
        )
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["active"])

    assert _userinfo(server, tokens["access_token"]) == 200 and active()
    ok(api("DELETE", f"/clients/{created['client_id']}"), 204)
    assert _userinfo(server, tokens["access_token"]) == 401
    assert not active()
    assert _refresh(server, created, tokens["refresh_token"]).status_code in (400, 401)


def test_api_created_machine_client_can_call_the_api(server: ProviderServer, api: Any) -> None:
    created = ok(
        api(
            "POST",
            "/clients",
            json={
                "name": "delegated",
                "grant_types": ["client_credentials"],
                "api_audiences": [audience(server)],
                "api_scopes": ["read:logs"],
            },
        ),
        201,
    )
    delegated = token_for(server, created)
    assert isinstance(ok(call(server, "GET", "/logs", delegated)), list)
    assert_problem(call(server, "GET", "/users", delegated), 403, "read:users")


# -- logs ------------------------------------------------------------------------------------
def test_logs_show_each_change_with_the_client_as_actor(
    server: ProviderServer, api: Any, ops: dict
) -> None:
    actor = f"client:{ops['client_id']}"
    user = _new_user(api)
    ok(api("PATCH", f"/users/{user['user_id']}", json={"name": "Logged"}))
    ok(api("DELETE", f"/users/{user['user_id']}"), 204)
    client = ok(
        api("POST", "/clients", json={"name": "logged", "grant_types": ["client_credentials"]}), 201
    )
    ok(api("POST", f"/clients/{client['client_id']}/rotate-secret"))
    ok(api("DELETE", f"/clients/{client['client_id']}"), 204)
    ok(api("PUT", "/guardian/policies", json=[]))
    ok(api("PATCH", "/email-templates/verify_email", json={"subject": "Logged"}))
    ok(api("DELETE", "/email-templates/verify_email"))
    server.cli("mfa", "policy", "never")
    events = _audit(api)
    mine = [(e["action"], e["target"]) for e in events if e["actor"] == actor]
    expected = [
        ("user.create", user["user_id"]),
        ("user.update", user["user_id"]),
        ("user.delete", user["user_id"]),
        ("client.create", client["client_id"]),
        ("client.rotate_secret", client["client_id"]),
        ("client.delete", client["client_id"]),
        ("guardian.policy", None),
        ("email_template.update", "verify_email"),
        ("email_template.reset", "verify_email"),
    ]
    assert set(expected) <= set(mine), mine[:20]
    # newest first (to the second): the last of these changes is listed before the first
    dates = {(e["action"], e["target"]): e["date"] for e in reversed(events) if e["actor"] == actor}
    assert dates[expected[0]] <= dates[expected[-1]]
    cli = next(e for e in events if e["actor"] == "cli")
    assert cli["action"] == "guardian.policy" and cli["details"] == {"policy": "never"}
    for event in events:
        assert set(event) >= {"id", "date", "actor", "action", "target", "details"}
    assert all(events[i]["date"] >= events[i + 1]["date"] for i in range(len(events) - 1))
    update = next(
        e for e in events if e["action"] == "user.update" and e["target"] == user["user_id"]
    )
    assert update["details"] == {"fields": ["name"]}
    totals = ok(api("GET", "/logs", params={"per_page": 2, "include_totals": "true"}))
    assert totals["length"] == 2 and totals["total"] >= len(expected)
    second = ok(api("GET", "/logs", params={"per_page": 2, "page": 1}))
    assert [e["id"] for e in second] == [e["id"] for e in events[2:4]]
