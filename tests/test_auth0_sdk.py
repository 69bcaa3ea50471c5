"""Apps built on Auth0's official SDK work against provider by changing only the domain.

`@auth0/auth0-auth-js` (pinned in tests/sdk/package-lock.json, installed by scripts/test with
`npm ci --prefix tests/sdk`) runs under Node against a provider served over TLS with a test
certificate that Node trusts through NODE_EXTRA_CA_CERTS (no verification is switched off). The
SDK is given the bare domain `127.0.0.1:<port>`, exactly as an app gives it `tenant.auth0.com`.
tests/sdk/flow.mjs performs one SDK call per run, so that between calls this test computes TOTP
codes and reads the emailed code from a real SMTP server: password grant → mfa_required with an
mfa_token → list authenticators → enroll TOTP via /mfa/associate → mfa-otp grant → /mfa/challenge
for email → mfa-oob grant → mfa-recovery-code grant (rotated code) → delete an authenticator with
an access token for the MFA API. Wire contract: shared/docs/auth0-mfa-api.md §1–3."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from plugins.email_otp import mask_address
from provider.cli import GRANT_TYPES
from tests.mail.smtp_capture import SmtpCapture
from tests.mfa_flow import current_totp
from tests.servers import ProviderServer, dispose, free_port, new_server
from tests.test_email_mfa import _wait_code
from tests.test_serve_options import make_certificate

NODE = shutil.which("node")
SDK_DIR = Path(__file__).resolve().parent / "sdk"
FLOW = SDK_DIR / "flow.mjs"
SDK_PACKAGE = SDK_DIR / "node_modules" / "@auth0" / "auth0-auth-js" / "package.json"

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: this check runs Auth0's official Node SDK"
)

PASSWORD = "password-123"
SCOPE = "openid profile email offline_access"
MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
MFA_OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
MFA_RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
BASE32 = re.compile(r"^[A-Z2-7]+=*$")


@dataclass
class Sdk:
    """Runs tests/sdk/flow.mjs steps for one client of one server."""

    server: ProviderServer = field(repr=False)
    cert: Path
    client_id: str
    client_secret: str
    runs: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.server.port}"  # what an app puts where `tenant.auth0.com` goes

    def run(self, step: str, **options: Any) -> dict[str, Any]:
        options = {
            "domain": self.domain,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            **options,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_")}
        env["NODE_EXTRA_CA_CERTS"] = str(self.cert)
        done = subprocess.run(
            [NODE or "node", str(FLOW), step, json.dumps(options)],
            cwd=SDK_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"flow.mjs {step} exited {done.returncode}: {done.stderr}"
        lines = done.stdout.strip().splitlines()
        assert lines, f"flow.mjs {step} printed nothing; stderr: {done.stderr}"
        answer = json.loads(lines[-1])
        self.runs.append({"step": step, **answer})
        return answer

    def ok(self, step: str, **options: Any) -> Any:
        answer = self.run(step, **options)
        assert answer["ok"], f"SDK {step} failed: {json.dumps(answer, indent=1)}"
        return answer["result"]

    def fails(self, step: str, **options: Any) -> dict[str, Any]:
        answer = self.run(step, **options)
        assert not answer["ok"], f"SDK {step} unexpectedly succeeded: {json.dumps(answer)}"
        return answer["error"]

    def last_request(self, path: str) -> dict[str, Any]:
        """What the SDK sent to `path` in the last run that called it."""
        for run in reversed(self.runs):
            for request in reversed(run["requests"]):
                if request["path"] == path or request["path"].startswith(path + "/"):
                    return request
        raise AssertionError(f"the SDK never called {path}: {self.runs}")

    def mfa_token(self, email: str, scope: str = SCOPE, audience: str | None = None) -> str:
        """Password grant for a user who must pass MFA: the SDK's error carries the mfa_token."""
        error = self.fails(
            "password", username=email, password=PASSWORD, scope=scope, audience=audience
        )
        assert error["status"] == 403, error
        assert error["error"] == "mfa_required", error
        assert error["error_description"] == "Multifactor authentication required", error
        assert isinstance(error["mfa_token"], str) and error["mfa_token"], error
        return error["mfa_token"]


def _ensure_sdk_installed() -> None:
    if SDK_PACKAGE.exists():
        return
    npm = shutil.which("npm")
    assert npm, "tests/sdk/node_modules is missing and npm is not installed: run scripts/test"
    subprocess.run(
        [npm, "ci", "--prefix", str(SDK_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture(free_port()).start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module")
def tls_mfa_server(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCapture
) -> Iterator[tuple[ProviderServer, Path]]:
    """Over TLS, MFA always, factors TOTP + recovery code (on by default) + email."""
    _ensure_sdk_installed()
    tmp = tmp_path_factory.mktemp("auth0-sdk")
    cert, key = make_certificate(tmp)
    config = tmp / "provider.toml"
    config.write_text("[mfa.factors.email]\nenabled = true\nresend_cooldown = 1\n")
    server = new_server(
        tmp / "data",
        PROVIDER_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}?tls=none",
        PROVIDER_CONFIG=str(config),
    )
    server.scheme = "https"
    try:
        server.start("--tls-cert", str(cert), "--tls-key", str(key))
        server.cli("mfa", "policy", "always")
        yield server, cert
    finally:
        dispose(server)


@pytest.fixture(scope="module")
def sdk(tls_mfa_server: tuple[ProviderServer, Path]) -> Sdk:
    """A confidential first-party app allowed the password grant and refresh tokens (and the
    MFA grants, should the CLI name them separately)."""
    server, cert = tls_mfa_server
    grants = ["password", "refresh_token", *(g for g in GRANT_TYPES if "mfa" in g)]
    created = server.cli_json(
        "clients",
        "create",
        "--name",
        "sdk-app",
        "--first-party",
        *(arg for grant in grants for arg in ("--grant-type", grant)),
    )
    return Sdk(server, cert, created["client_id"], created["client_secret"])


def _user(server: ProviderServer, email: str) -> None:
    server.cli_json("users", "create", "--email", email, "--password", PASSWORD, "--email-verified")


def _wrong_totp(secret: str) -> str:
    """A 6-digit code that no step in the verification window accepts."""
    now = time.time()
    near = {current_totp(secret, now + step * 30) for step in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 1_000_000)) if c not in near)


def _verified_claims(sdk: Sdk, id_token: str) -> dict[str, Any]:
    """The ID token's claims after checking its signature against the JWKS (the SDK checks
    iss/aud/exp/iat, not the signature)."""
    context = ssl.create_default_context(cafile=str(sdk.cert))
    keys = httpx.get(sdk.server.base_url + "/.well-known/jwks.json", verify=context).json()
    return jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=["RS256", "ES256"]).claims


def _unverified_payload(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _signed_in(sdk: Sdk, tokens: dict[str, Any], email: str) -> dict[str, Any]:
    """A successful MFA grant as the SDK returns it: tokens, and an ID token for the user whose
    `amr` says MFA was done."""
    assert isinstance(tokens["access_token"], str) and tokens["access_token"], tokens
    assert tokens["token_type"] == "bearer", tokens  # the SDK lower-cases it
    assert tokens["id_token"], tokens
    claims = tokens["claims"]
    assert claims["iss"] == sdk.server.issuer
    assert claims["aud"] == sdk.client_id or sdk.client_id in claims["aud"]
    assert claims.get("email") == email
    assert "mfa" in claims["amr"], claims
    assert _verified_claims(sdk, tokens["id_token"])["sub"] == claims["sub"]
    return claims


# The contract's id prefix for each kind: `<kind>|dev_<random>`.
ID_PREFIX = {"otp": "totp|", "oob": "email|", "recovery-code": "recovery-code|"}


def _of_type(authenticators: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The authenticators of one `authenticator_type`, each checked to carry the contract's id
    (`totp|dev_…`, `email|dev_…`, `recovery-code|dev_…`)."""
    found = [a for a in authenticators if a["authenticatorType"] == kind]
    for authenticator in found:
        assert authenticator["id"].startswith(ID_PREFIX[kind] + "dev_"), (
            f"a {kind} authenticator's id must start with {ID_PREFIX[kind]}dev_: {authenticator}"
        )
    return found


def test_sdk_discovers_provider_over_tls(sdk: Sdk) -> None:
    """The SDK builds https://{domain}/ from the bare domain, trusts the test CA, and accepts
    the discovery document (its issuer must equal that URL exactly)."""
    metadata = sdk.ok("discover")
    assert metadata["issuer"] == sdk.server.issuer == f"https://{sdk.domain}/"
    assert metadata["token_endpoint"] == sdk.server.issuer + "oauth/token"
    assert metadata.get("mfa_challenge_endpoint") == sdk.server.issuer + "mfa/challenge"
    request = sdk.last_request("/.well-known/openid-configuration")
    assert request["status"] == 200 and request["auth0_client"]


def test_sdk_wrong_password_is_invalid_grant(sdk: Sdk) -> None:
    _user(sdk.server, "sdk-wrong@example.com")
    error = sdk.fails("password", username="sdk-wrong@example.com", password="not-it", scope=SCOPE)
    assert (error["status"], error["error"]) == (403, "invalid_grant"), error
    assert error["error_description"] == "Wrong email or password."
    unknown = sdk.fails("password", username="nobody@example.com", password="x", scope=SCOPE)
    assert (unknown["status"], unknown["error"], unknown["error_description"]) == (
        403,
        "invalid_grant",
        "Wrong email or password.",
    )


def test_sdk_password_grant_and_mfa_api(sdk: Sdk, smtp: SmtpCapture) -> None:
    email = "sdk-user@example.com"
    _user(sdk.server, email)

    # 1. Password grant: 403 mfa_required; the SDK lifts mfa_token and mfa_requirements.
    first = sdk.fails("password", username=email, password=PASSWORD, scope=SCOPE)
    assert (first["status"], first["error"]) == (403, "mfa_required"), first
    assert first["error_description"] == "Multifactor authentication required"
    token = first["mfa_token"]
    assert isinstance(token, str) and token
    requirements = first["mfa_requirements"]
    assert isinstance(requirements, dict) and set(requirements) & {"challenge", "enroll"}
    assert "email" not in [r["type"] for r in requirements.get("enroll", [])]
    sent = sdk.last_request("/oauth/token")
    assert sent["method"] == "POST" and sent["grant_type"] == "password"
    assert sent["content_type"].startswith("application/x-www-form-urlencoded")
    assert {"client_id", "client_secret", "username", "password", "scope"} <= set(sent["body_keys"])
    assert sent["auth0_client"]

    # 2. The verified email is listed as an active email authenticator, its name masked.
    authenticators = sdk.ok("list", mfaToken=token)
    emails = _of_type(authenticators, "oob")
    assert len(emails) == 1, authenticators
    assert emails[0]["active"] is True
    assert emails[0]["name"] == mask_address(email)
    assert sdk.last_request("/mfa/authenticators")["authorization"] == "Bearer"

    # 3. Enroll TOTP: secret, otpauth URI, and the recovery code (first authenticator).
    enrolled = sdk.ok("associate-otp", mfaToken=token)
    assert enrolled["authenticatorType"] == "otp"
    secret = enrolled["secret"]
    assert BASE32.match(secret), enrolled
    assert enrolled["barcodeUri"].startswith("otpauth://totp/")
    assert f"secret={secret}" in enrolled["barcodeUri"]
    assert "algorithm=SHA1" in enrolled["barcodeUri"] and "digits=6" in enrolled["barcodeUri"]
    assert len(enrolled["recoveryCodes"]) == 1 and enrolled["recoveryCodes"][0]
    recovery = enrolled["recoveryCodes"][0]
    associate = sdk.last_request("/mfa/associate")
    assert associate["content_type"] == "application/json"
    assert associate["authorization"] == "Bearer"
    assert associate["body_keys"] == ["authenticator_types"]

    # 4. mfa-otp grant: a wrong code is the SDK's MfaVerifyError with invalid_grant ...
    wrong = sdk.fails("otp-grant", mfaToken=token, otp=_wrong_totp(secret))
    assert (wrong["status"], wrong["error"], wrong["error_description"]) == (
        403,
        "invalid_grant",
        "Invalid otp_code.",
    ), wrong
    assert wrong["name"] == "MfaVerifyError"
    sent = sdk.last_request("/oauth/token")
    assert sent["grant_type"] == MFA_OTP
    assert {"client_id", "client_secret", "mfa_token", "otp"} <= set(sent["body_keys"])
    # ... and the current code signs the user in, with mfa in amr.
    tokens = sdk.ok("otp-grant", mfaToken=token, otp=current_totp(secret))
    _signed_in(sdk, tokens, email)
    assert tokens["refresh_token"]  # offline_access was asked for
    # The mfa_token is single use once a grant succeeded with it.
    sdk.fails("otp-grant", mfaToken=token, otp=current_totp(secret))

    # 5. Next sign-in: TOTP and the recovery code are listed too.
    token = sdk.mfa_token(email)
    authenticators = sdk.ok("list", mfaToken=token)
    totps = _of_type(authenticators, "otp")
    assert len(totps) == 1 and totps[0]["active"] is True, authenticators
    codes = _of_type(authenticators, "recovery-code")
    assert len(codes) == 1 and codes[0]["active"] is True, authenticators
    email_id = _of_type(authenticators, "oob")[0]["id"]

    # 6. Challenge the email authenticator: an oob_code; the 6-digit code arrives by mail.
    challenge = sdk.ok("challenge-oob", mfaToken=token, authenticatorId=email_id)
    assert challenge["challengeType"] == "oob"
    assert challenge["bindingMethod"] == "prompt"
    assert isinstance(challenge["oobCode"], str) and challenge["oobCode"]
    sent = sdk.last_request("/mfa/challenge")
    assert sent["content_type"] == "application/json" and sent["authorization"] is None
    assert sent["body_keys"] == sorted(
        ["mfa_token", "client_id", "client_secret", "challenge_type", "authenticator_id"]
    )
    code = _wait_code(smtp, email, 1)
    wrong = sdk.fails(
        "oob-grant",
        mfaToken=token,
        oobCode=challenge["oobCode"],
        bindingCode=f"{(int(code) + 1) % 1_000_000:06d}",
    )
    assert (wrong["status"], wrong["error"], wrong["error_description"]) == (
        403,
        "invalid_grant",
        "Invalid binding_code.",
    ), wrong
    tokens = sdk.ok("oob-grant", mfaToken=token, oobCode=challenge["oobCode"], bindingCode=code)
    _signed_in(sdk, tokens, email)
    sent = sdk.last_request("/oauth/token")
    assert sent["grant_type"] == MFA_OOB
    assert {"client_id", "client_secret", "mfa_token", "oob_code", "binding_code"} <= set(
        sent["body_keys"]
    )

    # 7. Recovery code: a wrong one is rejected; the right one signs in and is rotated.
    token = sdk.mfa_token(email)
    wrong = sdk.fails("recovery-grant", mfaToken=token, recoveryCode="NOT-THE-CODE")
    assert (wrong["status"], wrong["error"], wrong["error_description"]) == (
        403,
        "invalid_grant",
        "MFA Authorization rejected.",
    ), wrong
    tokens = sdk.ok("recovery-grant", mfaToken=token, recoveryCode=recovery)
    _signed_in(sdk, tokens, email)
    assert sdk.last_request("/oauth/token")["grant_type"] == MFA_RECOVERY
    rotated = tokens["recovery_code"]
    assert isinstance(rotated, str) and rotated and rotated != recovery
    # The old code is spent; the new one works.
    token = sdk.mfa_token(email)
    spent = sdk.fails("recovery-grant", mfaToken=token, recoveryCode=recovery)
    assert (spent["status"], spent["error"]) == (403, "invalid_grant"), spent
    tokens = sdk.ok("recovery-grant", mfaToken=token, recoveryCode=rotated)
    assert tokens["recovery_code"] and tokens["recovery_code"] != rotated


def test_sdk_deletes_an_authenticator_with_an_mfa_access_token(sdk: Sdk) -> None:
    """An access token for <issuer>mfa/ with read:/remove:authenticators (obtained through the
    password grant + MFA) lists and deletes authenticators; the SDK percent-encodes the id."""
    email = "sdk-delete@example.com"
    _user(sdk.server, email)
    mfa_audience = sdk.server.issuer + "mfa/"
    token = sdk.mfa_token(
        email,
        audience=mfa_audience,
        scope="openid read:authenticators remove:authenticators",
    )
    secret = sdk.ok("associate-otp", mfaToken=token)["secret"]
    tokens = sdk.ok("otp-grant", mfaToken=token, otp=current_totp(secret))
    access = tokens["access_token"]
    payload = _unverified_payload(access)
    audiences = payload["aud"] if isinstance(payload["aud"], list) else [payload["aud"]]
    assert mfa_audience in audiences, payload
    assert {"read:authenticators", "remove:authenticators"} <= set(payload["scope"].split())

    listed = sdk.ok("list", mfaToken=access)
    totps = _of_type(listed, "otp")
    assert len(totps) == 1 and totps[0]["active"], listed
    totp_id = totps[0]["id"]
    assert sdk.ok("delete", mfaToken=access, authenticatorId=totp_id) == {"deleted": totp_id}
    sent = sdk.last_request("/mfa/authenticators")
    assert sent["method"] == "DELETE" and sent["status"] == 204
    assert sent["path"] == "/mfa/authenticators/" + totp_id.replace("|", "%7C")
    assert sent["authorization"] == "Bearer"
    assert not _of_type(sdk.ok("list", mfaToken=access), "otp")
