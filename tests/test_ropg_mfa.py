"""The password grant and Auth0's MFA API against a real server, over HTTP: mfa_required,
/mfa/authenticators, /mfa/associate, /mfa/challenge, DELETE /mfa/authenticators/{id} and the
mfa-otp / mfa-oob / mfa-recovery-code grants, with every row of the error table. Emailed codes
are read from a real SMTP server capturing the mail."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from plugins.email_otp import mask_address
from tests.mail.smtp_capture import SmtpCapture
from tests.mfa_flow import current_totp, start_login, submit
from tests.oidc import decode_verified
from tests.servers import ProviderServer, dispose, free_port, new_server
from tests.test_bad_input import BAD_BODIES, GARBAGE_AUTH, assert_oauth_error
from tests.test_email_mfa import _codes_for, _wait_code

PASSWORD = "password-123"
OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
REALM = "http://auth0.com/oauth/grant-type/password-realm"
MFA_SCOPES = "enroll read:authenticators remove:authenticators"
REDIRECT = "http://127.0.0.1:9/callback"


def _start(tmp: Path, smtp_port: int, email_settings: str = "") -> ProviderServer:
    config = tmp / "provider.toml"
    config.write_text(f"[mfa.factors.email]\nenabled = true\nresend_cooldown = 1\n{email_settings}")
    server = new_server(
        tmp / "data",
        PROVIDER_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}?tls=none",
        PROVIDER_CONFIG=str(config),
    )
    server.start()
    server.cli("mfa", "policy", "always")
    return server


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture(free_port()).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCapture) -> Iterator[ProviderServer]:
    instance = _start(tmp_path_factory.mktemp("ropg"), smtp.port)
    yield instance
    dispose(instance)


def _app(server: ProviderServer, *extra: str) -> dict[str, str]:
    """A confidential first-party client with the password grant (and refresh tokens)."""
    return server.cli_json(
        "clients",
        "create",
        "--name",
        "first-party app",
        "--first-party",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        *extra,
    )


@pytest.fixture(scope="module")
def app(server: ProviderServer) -> dict[str, str]:
    return _app(server)


_users = iter(range(10_000))


def _user(server: ProviderServer, *, verified: bool = True) -> str:
    email = f"ropg{next(_users)}@example.com"
    flags = ["--email-verified"] if verified else []
    server.cli_json("users", "create", "--email", email, "--password", PASSWORD, *flags)
    return email


def _token(server: ProviderServer, app: dict[str, str], **params: Any) -> httpx.Response:
    body = {"client_id": app["client_id"], "client_secret": app["client_secret"], **params}
    return httpx.post(server.base_url + "/oauth/token", data=body)


def _password(
    server: ProviderServer, app: dict[str, str], email: str, **params: Any
) -> httpx.Response:
    params.setdefault("scope", "openid email offline_access")
    return _token(server, app, grant_type="password", username=email, password=PASSWORD, **params)


def _mfa_token(server: ProviderServer, app: dict[str, str], email: str, **params: Any) -> str:
    answer = _password(server, app, email, **params)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "mfa_required"
    return str(answer.json()["mfa_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _associate(server: ProviderServer, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.base_url + "/mfa/associate", json=body, headers=_bearer(token))


def _challenge(
    server: ProviderServer, app: dict[str, str], mfa_token: str, **body: str
) -> httpx.Response:
    return httpx.post(
        server.base_url + "/mfa/challenge",
        json={
            "mfa_token": mfa_token,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            **body,
        },
    )


def _authenticators(server: ProviderServer, token: str) -> list[dict[str, Any]]:
    answer = httpx.get(server.base_url + "/mfa/authenticators", headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _fails(answer: httpx.Response, status: int, error: str, description: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == error, body
    if description is not None:
        assert body["error_description"] == description, body


def _enrolled(server: ProviderServer, app: dict[str, str]) -> tuple[str, str, str]:
    """A user enrolled in TOTP through the API: (email, TOTP secret, recovery code)."""
    email = _user(server)
    mfa_token = _mfa_token(server, app, email)
    associated = _associate(server, mfa_token, {"authenticator_types": ["otp"]}).json()
    done = _token(
        server, app, grant_type=OTP, mfa_token=mfa_token, otp=current_totp(associated["secret"])
    )
    assert done.status_code == 200, done.text
    return email, associated["secret"], associated["recovery_codes"][0]


def _fresh_totp(secret: str) -> str:
    """A code of a time step not used yet (each step is accepted once)."""
    step = int(time.time()) // 30
    while int(time.time()) // 30 == step:
        time.sleep(0.2)
    return current_totp(secret)


def _mfa_api_token(server: ProviderServer, app: dict[str, str], email: str, secret: str) -> str:
    """An access token for the MFA API, obtained with TOTP."""
    mfa_token = _mfa_token(server, app, email, audience=server.issuer + "mfa/", scope=MFA_SCOPES)
    done = _token(server, app, grant_type=OTP, mfa_token=mfa_token, otp=_fresh_totp(secret))
    assert done.status_code == 200, done.text
    return str(done.json()["access_token"])


# -- the password grant ---------------------------------------------------------------------


def test_discovery_lists_the_grants_and_the_challenge_endpoint(server: ProviderServer) -> None:
    metadata = httpx.get(server.base_url + "/.well-known/openid-configuration").json()
    assert metadata["mfa_challenge_endpoint"] == server.issuer + "mfa/challenge"
    for grant in ("password", REALM, OTP, OOB, RECOVERY):
        assert grant in metadata["grant_types_supported"]


def test_wrong_password_and_unknown_user_get_the_same_answer(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email = _user(server)
    wrong = _token(server, app, grant_type="password", username=email, password="nope-nope-1")
    unknown = _token(
        server, app, grant_type="password", username="nobody@example.com", password="nope-nope-1"
    )
    for answer in (wrong, unknown):
        _fails(answer, 403, "invalid_grant", "Wrong email or password.")
    assert wrong.json() == unknown.json()


def test_the_password_grant_is_off_for_clients_not_given_it(server: ProviderServer) -> None:
    other = server.cli_json(
        "clients", "create", "--name", "web", "--redirect-uri", REDIRECT, "--first-party"
    )
    _fails(_password(server, other, _user(server)), 403, "unauthorized_client")


def test_brute_force_on_the_password_is_throttled(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email = _user(server)
    for _ in range(10):
        wrong = _token(server, app, grant_type="password", username=email, password="bad-guess-1")
        _fails(wrong, 403, "invalid_grant")
    _fails(_password(server, app, email), 429, "too_many_attempts")


def test_mfa_required_carries_a_token_and_the_requirements(
    server: ProviderServer, app: dict[str, str]
) -> None:
    answer = _password(server, app, _user(server))
    assert answer.status_code == 403
    body = answer.json()
    assert body["error"] == "mfa_required"
    assert body["error_description"] == "Multifactor authentication required"
    assert len(body["mfa_token"]) >= 40
    # Nothing enrolled: TOTP may be enrolled; email never appears under `enroll`.
    assert body["mfa_requirements"] == {"enroll": [{"type": "otp"}]}
    assert answer.headers["cache-control"] == "no-store"


def test_without_mfa_policy_the_password_grant_issues_tokens(
    server: ProviderServer,
) -> None:
    relaxed = _app(server, "--mfa-policy", "never")
    answer = _password(server, relaxed, _user(server))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    _, claims = decode_verified(tokens["id_token"], server.base_url)
    assert claims["amr"] == ["pwd"] and claims["aud"] == relaxed["client_id"]
    assert "refresh_token" in tokens
    refreshed = _token(
        server, relaxed, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refreshed.status_code == 200, refreshed.text


def test_password_realm_names_the_user_store(server: ProviderServer) -> None:
    relaxed = _app(server, "--mfa-policy", "never")
    email = _user(server)
    ok = _token(
        server,
        relaxed,
        grant_type=REALM,
        username=email,
        password=PASSWORD,
        realm="Username-Password-Authentication",
        scope="openid",
    )
    assert ok.status_code == 200, ok.text
    other = _token(
        server, relaxed, grant_type=REALM, username=email, password=PASSWORD, realm="some-other-db"
    )
    _fails(other, 400, "invalid_request", "Unknown realm.")


def test_json_nulls_empty_scope_encoded_basic_and_unknown_params(server: ProviderServer) -> None:
    relaxed = _app(server, "--mfa-policy", "never")
    email = _user(server)
    # Basic credentials form-urlencoded before base64 (RFC 6749 §2.3.1): every octet escaped.
    encoded = "".join(f"%{b:02X}" for b in relaxed["client_id"].encode())
    secret = "".join(f"%{b:02X}" for b in relaxed["client_secret"].encode())
    basic = base64.b64encode(f"{encoded}:{secret}".encode()).decode()
    answer = httpx.post(
        server.base_url + "/oauth/token",
        json={
            "grant_type": "password",
            "username": email,
            "password": PASSWORD,
            "scope": "",
            "audience": None,
            "realm": None,
            "some_unknown_parameter": "ignored",
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["scope"] == "" and "id_token" not in tokens and "refresh_token" not in tokens


# -- enrollment through the MFA API ---------------------------------------------------------


def test_enroll_totp_through_associate_and_confirm_with_mfa_otp(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email = _user(server)
    mfa_token = _mfa_token(server, app, email)
    associated = _associate(server, mfa_token, {"authenticator_types": ["otp"]})
    assert associated.status_code == 200, associated.text
    body = associated.json()
    assert body["authenticator_type"] == "otp"
    uri = urlsplit(body["barcode_uri"])
    assert uri.scheme == "otpauth" and parse_qs(uri.query)["secret"] == [body["secret"]]
    assert len(body["recovery_codes"]) == 1
    # Listed, but inactive until confirmed; the verified email is listed too.
    listed = {a["authenticator_type"]: a for a in _authenticators(server, mfa_token)}
    assert listed["otp"]["active"] is False and listed["otp"]["id"].startswith("totp|dev_")

    wrong = _token(server, app, grant_type=OTP, mfa_token=mfa_token, otp="000000")
    _fails(wrong, 403, "invalid_grant", "Invalid otp_code.")
    done = _token(
        server, app, grant_type=OTP, mfa_token=mfa_token, otp=current_totp(body["secret"])
    )
    assert done.status_code == 200, done.text
    tokens = done.json()
    _, claims = decode_verified(tokens["id_token"], server.base_url)
    assert {"pwd", "mfa", "otp"} <= set(claims["amr"])
    assert claims["acr"] == "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    assert "refresh_token" in tokens and "offline_access" in tokens["scope"].split()

    # The mfa_token is spent by the grant that succeeded.
    replay = _token(
        server, app, grant_type=OTP, mfa_token=mfa_token, otp=current_totp(body["secret"])
    )
    _fails(replay, 400, "invalid_grant", "Malformed mfa_token")

    # Enrolled now: an mfa_token may not enroll another authenticator.
    again = _mfa_token(server, app, email)
    _fails(
        _associate(server, again, {"authenticator_types": ["otp"]}),
        403,
        "access_denied",
        "User is already enrolled.",
    )
    answer = _password(server, app, email)
    kinds = [c["type"] for c in answer.json()["mfa_requirements"]["challenge"]]
    assert kinds[0] == "otp" and set(kinds) == {"otp", "email", "recovery-code"}


def test_authenticators_are_listed_with_the_verified_email_masked(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email, _, _ = _enrolled(server, app)
    listed = _authenticators(server, _mfa_token(server, app, email))
    by_type = {a["authenticator_type"]: a for a in listed}
    assert set(by_type) == {"otp", "oob", "recovery-code"}
    assert all(a["active"] for a in listed)
    mail = by_type["oob"]
    assert mail["oob_channel"] == "email" and mail["id"].startswith("email|dev_")
    assert mail["name"] == mask_address(email) and mail["name"] != email
    assert by_type["recovery-code"]["id"].startswith("recovery-code|dev_")


def test_the_implicit_verified_email_is_challenged_and_completed_with_mfa_oob(
    server: ProviderServer, app: dict[str, str], smtp: SmtpCapture
) -> None:
    email, _, _ = _enrolled(server, app)
    mfa_token = _mfa_token(server, app, email)
    answer = _challenge(server, app, mfa_token, challenge_type="oob")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["challenge_type"] == "oob" and body["binding_method"] == "prompt"
    code = _wait_code(smtp, email, 1)
    wrong = "000000" if code != "000000" else "111111"
    _fails(
        _token(
            server,
            app,
            grant_type=OOB,
            mfa_token=mfa_token,
            oob_code=body["oob_code"],
            binding_code=wrong,
        ),
        403,
        "invalid_grant",
        "Invalid binding_code.",
    )

    # A new challenge of the same authenticator invalidates the previous code.
    time.sleep(1.1)  # the resend cooldown configured for this server
    second = _challenge(server, app, mfa_token, challenge_type="oob")
    assert second.status_code == 200, second.text
    new_code = _wait_code(smtp, email, 2)
    if new_code != code:
        stale = _token(
            server,
            app,
            grant_type=OOB,
            mfa_token=mfa_token,
            oob_code=second.json()["oob_code"],
            binding_code=code,
        )
        _fails(stale, 403, "invalid_grant", "Invalid binding_code.")
    done = _token(
        server,
        app,
        grant_type=OOB,
        mfa_token=mfa_token,
        oob_code=second.json()["oob_code"],
        binding_code=new_code,
    )
    assert done.status_code == 200, done.text
    _, claims = decode_verified(done.json()["id_token"], server.base_url)
    assert {"mfa", "email"} <= set(claims["amr"])


def test_an_extra_email_is_enrolled_with_associate_and_confirmed_with_mfa_oob(
    server: ProviderServer, app: dict[str, str], smtp: SmtpCapture
) -> None:
    email, secret, _ = _enrolled(server, app)
    access = _mfa_api_token(server, app, email, secret)
    extra = f"extra-{email}"
    associated = _associate(
        server,
        access,
        {"authenticator_types": ["oob"], "oob_channels": ["email"], "email": extra},
    )
    assert associated.status_code == 200, associated.text
    body = associated.json()
    assert body["oob_channel"] == "email" and body["binding_method"] == "prompt"
    assert "recovery_codes" not in body  # only with a user's first authenticator
    code = _wait_code(smtp, extra, 1)
    pending = [a for a in _authenticators(server, access) if a["active"] is False]
    assert len(pending) == 1 and pending[0]["oob_channel"] == "email"

    mfa_token = _mfa_token(server, app, email)
    done = _token(
        server,
        app,
        grant_type=OOB,
        mfa_token=mfa_token,
        oob_code=body["oob_code"],
        binding_code=code,
    )
    assert done.status_code == 200, done.text
    emails = [a for a in _authenticators(server, access) if a["authenticator_type"] == "oob"]
    assert len(emails) == 2 and all(a["active"] for a in emails)

    # The enrolled address can now be challenged by id.
    enrolled_id = pending[0]["id"]  # the pending row, confirmed, keeps its id
    assert enrolled_id in {a["id"] for a in emails}
    mfa_token = _mfa_token(server, app, email)
    time.sleep(1.1)
    sent = _challenge(server, app, mfa_token, challenge_type="oob", authenticator_id=enrolled_id)
    assert sent.status_code == 200, sent.text
    finished = _token(
        server,
        app,
        grant_type=OOB,
        mfa_token=mfa_token,
        oob_code=sent.json()["oob_code"],
        binding_code=_wait_code(smtp, extra, 2),
    )
    assert finished.status_code == 200, finished.text


def test_recovery_code_grant_returns_a_new_code(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email, _, recovery = _enrolled(server, app)
    mfa_token = _mfa_token(server, app, email)
    wrong = _token(
        server, app, grant_type=RECOVERY, mfa_token=mfa_token, recovery_code="AAAA-BBBB-CCCC-DDDD"
    )
    _fails(wrong, 403, "invalid_grant", "MFA Authorization rejected.")
    done = _token(server, app, grant_type=RECOVERY, mfa_token=mfa_token, recovery_code=recovery)
    assert done.status_code == 200, done.text
    fresh = done.json()["recovery_code"]
    assert fresh and fresh != recovery and "access_token" in done.json()
    # The used code is gone; the new one works.
    reuse = _token(
        server,
        app,
        grant_type=RECOVERY,
        mfa_token=_mfa_token(server, app, email),
        recovery_code=recovery,
    )
    _fails(reuse, 403, "invalid_grant", "MFA Authorization rejected.")
    ok = _token(
        server,
        app,
        grant_type=RECOVERY,
        mfa_token=_mfa_token(server, app, email),
        recovery_code=fresh,
    )
    assert ok.status_code == 200, ok.text


def test_delete_an_authenticator_with_an_mfa_audience_token(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email, secret, _ = _enrolled(server, app)
    access = _mfa_api_token(server, app, email, secret)
    _, claims = decode_verified(access, server.base_url)
    assert server.issuer + "mfa/" in (
        [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    )
    assert set(claims["scope"].split()) >= set(MFA_SCOPES.split())
    listed = _authenticators(server, access)
    totp = next(a for a in listed if a["authenticator_type"] == "otp")
    mail = next(a for a in listed if a["authenticator_type"] == "oob")
    url = server.base_url + "/mfa/authenticators/"

    assert httpx.delete(url + quote(totp["id"], safe="")).status_code == 401
    mfa_token = _mfa_token(server, app, email)
    _fails(
        httpx.delete(url + quote(totp["id"], safe=""), headers=_bearer(mfa_token)),
        401,
        "invalid_token",
    )
    _fails(
        httpx.delete(url + quote(mail["id"], safe=""), headers=_bearer(access)),
        403,
        "access_denied",
    )
    _fails(
        httpx.delete(url + quote("totp|dev_nothing", safe=""), headers=_bearer(access)),
        404,
        "not_found",
    )
    assert "%7C" in quote(totp["id"], safe="")
    gone = httpx.delete(url + quote(totp["id"], safe=""), headers=_bearer(access))
    assert gone.status_code == 204, gone.text
    assert totp["id"] not in {a["id"] for a in _authenticators(server, access)}


def test_mfa_audience_tokens_need_mfa_and_their_scopes(
    server: ProviderServer, app: dict[str, str]
) -> None:
    relaxed = _app(server, "--mfa-policy", "never")
    email, secret, _ = _enrolled(server, app)
    # Even with MFA off for this client, the MFA API audience asks for MFA.
    answer = _password(
        server, relaxed, email, audience=server.issuer + "mfa/", scope="read:authenticators"
    )
    _fails(answer, 403, "mfa_required")
    done = _token(
        server,
        relaxed,
        grant_type=OTP,
        mfa_token=answer.json()["mfa_token"],
        otp=_fresh_totp(secret),
    )
    reader = done.json()["access_token"]
    assert done.json()["scope"] == "read:authenticators"
    assert _authenticators(server, reader)
    listed = _authenticators(server, reader)
    url = server.base_url + "/mfa/authenticators/" + quote(listed[0]["id"], safe="")
    _fails(httpx.delete(url, headers=_bearer(reader)), 403, "insufficient_scope")
    # A token for another audience is not an MFA API token.
    plain = _password(server, relaxed, email).json()["access_token"]
    _fails(
        httpx.get(server.base_url + "/mfa/authenticators", headers=_bearer(plain)),
        401,
        "invalid_token",
    )


# -- the error table ------------------------------------------------------------------------


def test_malformed_unknown_and_foreign_mfa_tokens(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email, secret, _ = _enrolled(server, app)
    for token in ("x", "not a token at all", "A" * 43):
        _fails(
            _token(server, app, grant_type=OTP, mfa_token=token, otp="123456"),
            400,
            "invalid_grant",
            "Malformed mfa_token",
        )
    mine = _mfa_token(server, app, email)
    other = _app(server)
    _fails(
        _token(server, other, grant_type=OTP, mfa_token=mine, otp=current_totp(secret)),
        400,
        "invalid_grant",
        "Malformed mfa_token",
    )
    _fails(_challenge(server, other, mine), 400, "invalid_grant", "Malformed mfa_token")
    _fails(_token(server, app, grant_type=OTP, otp="123456"), 400, "invalid_request")


def test_an_expired_mfa_token(server: ProviderServer, app: dict[str, str]) -> None:
    email, secret, _ = _enrolled(server, app)
    mfa_token = _mfa_token(server, app, email)
    # Age every open transaction of the server past its 10 minutes.
    server.execute_sql(
        "UPDATE mfa_transactions SET expires_at = expires_at - 601 "
        "WHERE completed_at IS NULL AND scope IS NOT NULL"
    )
    _fails(
        _token(server, app, grant_type=OTP, mfa_token=mfa_token, otp=current_totp(secret)),
        401,
        "expired_token",
        "mfa_token is expired",
    )


def test_an_expired_email_code(
    server: ProviderServer, app: dict[str, str], smtp: SmtpCapture
) -> None:
    email, _, _ = _enrolled(server, app)
    mfa_token = _mfa_token(server, app, email)
    time.sleep(1.1)
    sent = _challenge(server, app, mfa_token, challenge_type="oob")
    assert sent.status_code == 200, sent.text
    code = _wait_code(smtp, email, len(_codes_for(smtp, email)) or 1)
    server.execute_sql("UPDATE factor_codes SET expires_at = expires_at - 601")
    expired = _token(
        server,
        app,
        grant_type=OOB,
        mfa_token=mfa_token,
        oob_code=sent.json()["oob_code"],
        binding_code=code,
    )
    _fails(expired, 403, "invalid_grant", "oob_code is expired")


def test_a_replayed_totp_code_is_refused(server: ProviderServer, app: dict[str, str]) -> None:
    email, secret, _ = _enrolled(server, app)
    code = _fresh_totp(secret)
    first = _token(server, app, grant_type=OTP, mfa_token=_mfa_token(server, app, email), otp=code)
    assert first.status_code == 200, first.text
    again = _token(server, app, grant_type=OTP, mfa_token=_mfa_token(server, app, email), otp=code)
    _fails(again, 403, "invalid_grant", "Invalid otp_code.")


def test_too_many_failed_codes_also_lock_the_hosted_pages(
    server: ProviderServer, app: dict[str, str]
) -> None:
    email, secret, _ = _enrolled(server, app)
    answers = []
    for _ in range(3):  # three mfa_tokens: the bucket is per user, not per token
        mfa_token = _mfa_token(server, app, email)
        for _ in range(4):
            answers.append(_token(server, app, grant_type=OTP, mfa_token=mfa_token, otp="000000"))
    assert [a.status_code for a in answers[:10]] == [403] * 10
    _fails(
        answers[10],
        429,
        "too_many_attempts",
        "Too many failed codes. Wait for some minutes before retrying.",
    )
    # Even the right code is refused now, through the API …
    right = _token(
        server,
        app,
        grant_type=OTP,
        mfa_token=_mfa_token(server, app, email),
        otp=current_totp(secret),
    )
    _fails(right, 429, "too_many_attempts")
    # … and on the hosted pages: the bucket is the same.
    web = server.cli_json(
        "clients",
        "create",
        "--name",
        "web",
        "--public",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
    )
    started = start_login(server.base_url, web["client_id"], REDIRECT, email, PASSWORD)
    assert "/mfa" in str(started.response.url)
    page = submit(started.browser, started.response, "/mfa/verify", code=current_totp(secret))
    assert page.status_code == 429, page.text[:300]


def test_five_wrong_answers_burn_an_email_challenge(
    server: ProviderServer, app: dict[str, str], smtp: SmtpCapture
) -> None:
    email, _, _ = _enrolled(server, app)
    mfa_token = _mfa_token(server, app, email)
    time.sleep(1.1)
    sent = _challenge(server, app, mfa_token, challenge_type="oob").json()
    code = _wait_code(smtp, email, len(_codes_for(smtp, email)) or 1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        _fails(
            _token(
                server,
                app,
                grant_type=OOB,
                mfa_token=mfa_token,
                oob_code=sent["oob_code"],
                binding_code=wrong,
            ),
            403,
            "invalid_grant",
        )
    burned = _token(
        server,
        app,
        grant_type=OOB,
        mfa_token=mfa_token,
        oob_code=sent["oob_code"],
        binding_code=code,
    )
    _fails(burned, 429, "too_many_attempts")


def test_challenge_errors(server: ProviderServer, app: dict[str, str]) -> None:
    fresh = _mfa_token(server, app, _user(server, verified=False))
    _fails(_challenge(server, app, fresh, challenge_type="oob"), 400, "association_required")
    email, _, _ = _enrolled(server, app)
    mfa_token = _mfa_token(server, app, email)
    _fails(
        _challenge(server, app, mfa_token, challenge_type="push"), 400, "unsupported_challenge_type"
    )
    otp = _challenge(server, app, mfa_token, challenge_type="otp")
    assert otp.status_code == 200 and otp.json() == {"challenge_type": "otp"}
    no_secret = httpx.post(
        server.base_url + "/mfa/challenge",
        json={"mfa_token": mfa_token, "client_id": app["client_id"]},
    )
    _fails(no_secret, 401, "invalid_client")


def test_associate_bad_input(server: ProviderServer, app: dict[str, str]) -> None:
    mfa_token = _mfa_token(server, app, _user(server))
    for body in (
        {},
        {"authenticator_types": ["push"]},
        {"authenticator_types": "otp oob"},
        {"authenticator_types": [1]},
    ):
        _fails(_associate(server, mfa_token, body), 400, "invalid_request")
    raw = httpx.post(
        server.base_url + "/mfa/associate",
        content=b"{not json",
        headers={**_bearer(mfa_token), "Content-Type": "application/json"},
    )
    _fails(raw, 400, "invalid_request")
    _fails(
        httpx.post(server.base_url + "/mfa/associate", json={"authenticator_types": ["otp"]}),
        401,
        "invalid_token",
    )
    # Email alone cannot be a user's only second factor (not standalone here).
    alone = _associate(
        server, mfa_token, {"authenticator_types": ["oob"], "oob_channels": ["email"]}
    )
    _fails(alone, 400, "invalid_request")


def test_too_many_emails(tmp_path: Path, smtp: SmtpCapture) -> None:
    strict = _start(tmp_path, smtp.port, "send_burst = 2\n")
    try:
        app = _app(strict)
        email, _, _ = _enrolled(strict, app)
        mfa_token = _mfa_token(strict, app, email)
        answers = []
        for _ in range(3):
            answers.append(_challenge(strict, app, mfa_token, challenge_type="oob"))
            time.sleep(1.1)  # past the resend cooldown each time
        assert [a.status_code for a in answers[:2]] == [200, 200]
        _fails(
            answers[2],
            429,
            "too_many_attempts",
            "Too many emails sent by the user. Wait for some minutes before retrying.",
        )
    finally:
        dispose(strict)


# -- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_bad_bodies_at_the_mfa_api(server: ProviderServer, app: dict[str, str], kind: str) -> None:
    """Unreadable or mistyped bodies get a 4xx OAuth-shaped error at /mfa/challenge and
    /mfa/associate (with a valid mfa_token), never a 5xx."""
    content_type, body = BAD_BODIES[kind]
    mfa_token = _mfa_token(server, app, _user(server))
    for path, headers in (("/mfa/challenge", {}), ("/mfa/associate", _bearer(mfa_token))):
        answer = httpx.post(
            server.base_url + path,
            content=body,
            headers={**headers, "Content-Type": content_type},
            timeout=30,
        )
        assert_oauth_error(answer)


@pytest.mark.parametrize("header", GARBAGE_AUTH, ids=lambda h: repr(h)[:40])
def test_garbage_authorization_at_the_mfa_api(server: ProviderServer, header: str | bytes) -> None:
    base = server.base_url
    for method, url in (
        ("GET", base + "/mfa/authenticators"),
        ("POST", base + "/mfa/associate"),
        ("DELETE", base + "/mfa/authenticators/totp%7Cdev_x"),
    ):
        answer = httpx.request(method, url, headers={"Authorization": header}, timeout=30)
        assert_oauth_error(answer, 401, "invalid_token")


@pytest.mark.parametrize(
    "fields",
    [
        {"username": {"$ne": ""}},
        {"username": ["a", "b"]},
        {"password": None},
        {"username": "x" * 9000},
        {"password": "p" * 9000},
        {"scope": 12},
        {"audience": "https://not-registered.example/"},
    ],
    ids=lambda f: repr(f)[:40],
)
def test_password_grant_bad_fields(
    server: ProviderServer, app: dict[str, str], fields: dict[str, Any]
) -> None:
    body = {
        "grant_type": "password",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "username": _user(server),
        "password": PASSWORD,
        **fields,
    }
    answer = httpx.post(server.base_url + "/oauth/token", json=body, timeout=30)
    assert_oauth_error(answer)


@pytest.mark.parametrize("grant", [OTP, OOB, RECOVERY])
def test_mfa_grants_with_missing_fields(
    server: ProviderServer, app: dict[str, str], grant: str
) -> None:
    mfa_token = _mfa_token(server, app, _user(server))
    assert_oauth_error(
        _token(server, app, grant_type=grant, mfa_token=mfa_token), 400, "invalid_request"
    )
    # The mfa_token was not spent by a request that could not be checked.
    again = _token(server, app, grant_type=OTP, mfa_token=mfa_token, otp="123456")
    assert again.json()["error_description"] != "Malformed mfa_token"


def test_parallel_right_answers_spend_the_mfa_token_once(
    server: ProviderServer, app: dict[str, str]
) -> None:
    """Ten parallel mfa-otp grants with the right code on one mfa_token: exactly one wins."""
    email, secret, _ = _enrolled(server, app)
    mfa_token = _mfa_token(server, app, email)
    code = _fresh_totp(secret)
    body = {
        "grant_type": OTP,
        "mfa_token": mfa_token,
        "otp": code,
        **{"client_id": app["client_id"], "client_secret": app["client_secret"]},
    }

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            return list(
                await asyncio.gather(*(client.post("/oauth/token", data=body) for _ in range(10)))
            )

    answers = asyncio.run(race())
    assert sorted(a.status_code for a in answers).count(200) == 1, [a.text for a in answers]
    assert all(a.status_code < 500 for a in answers)
