"""Helpers for tests that walk the hosted MFA pages."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from plugins.totp.codes import totp_code
from tests.oidc import BrowserClient, hidden_fields, pkce_pair, query_of

SECRET = re.compile(r'<code class="secret" id="secret">([A-Z2-7]+)</code>')
RECOVERY = re.compile(r'<code class="secret recovery-code">([A-Z0-9-]+)</code>')


def current_totp(secret_b32: str, at: float | None = None) -> str:
    padded = secret_b32 + "=" * (-len(secret_b32) % 8)
    return totp_code(base64.b32decode(padded), int(at if at is not None else time.time()))


@dataclass
class Started:
    browser: BrowserClient
    response: httpx.Response  # the page the browser is on now
    verifier: str


def start_login(
    base_url: str, client_id: str, redirect_uri: str, email: str, password: str, **extra: str
) -> Started:
    """Authorize + password; returns wherever the flow lands next (an MFA page or the RP)."""
    browser = BrowserClient(base_url)
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid email",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    page = browser.follow_local(browser.get("/authorize?" + urlencode(params)))
    assert 'action="/login"' in page.text, page.text[:300]
    after = browser.follow_local(browser.login(page, email, password))
    return Started(browser, after, verifier)


def submit(
    browser: BrowserClient, page: httpx.Response, action: str, **fields: str
) -> httpx.Response:
    return browser.follow_local(browser.post(action, data={**hidden_fields(page.text), **fields}))


def exchange_code(
    base_url: str, location: str, client_id: str, redirect_uri: str, verifier: str
) -> dict:
    params = query_of(location)
    answer = httpx.post(
        base_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()
