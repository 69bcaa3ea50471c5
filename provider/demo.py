"""A tiny built-in relying party (only with `demo = true`): /demo signs in with the demo
client through the real authorization code + PKCE flow and shows the ID token's claims."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import urlencode

import httpx
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.bootstrap import DEMO_CLIENT_ID, demo_redirect_uri
from provider.context import ctx
from provider.login.browser import read_browser
from provider.login.render import error_page, page

COOKIE = "provider_demo"


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx(request).box.signing_key, salt="provider.demo")


async def start(request: Request) -> Response:
    app = ctx(request)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": demo_redirect_uri(app.settings),
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse("/authorize?" + query, status_code=302)
    response.set_cookie(
        COOKIE,
        _serializer(request).dumps([state, nonce, verifier]),
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=app.settings.cookies_secure,
    )
    return response


async def callback(request: Request) -> Response:
    app = ctx(request)
    browser = read_browser(request)
    try:
        state, nonce, verifier = _serializer(request).loads(
            request.cookies.get(COOKIE, ""), max_age=600
        )
    except (BadSignature, ValueError):
        return error_page(request, browser, "Demo", "Start again at /demo.")
    params = request.query_params
    if params.get("error"):
        return error_page(request, browser, "Demo", f"The sign-in ended with {params['error']}.")
    if params.get("state") != state or params.get("iss") != app.settings.issuer:
        return error_page(request, browser, "Demo", "The response did not match the request.")
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=app.settings.issuer) as client:
        answer = await client.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": params.get("code", ""),
                "redirect_uri": demo_redirect_uri(app.settings),
                "client_id": DEMO_CLIENT_ID,
                "code_verifier": verifier,
            },
        )
    body = answer.json()
    if answer.status_code != 200:
        return error_page(request, browser, "Demo", f"Token request failed: {body.get('error')}")
    claims = app.keys.verify(body["id_token"])
    if claims.get("nonce") != nonce or claims.get("aud") != DEMO_CLIENT_ID:
        return error_page(request, browser, "Demo", "The ID token did not match the request.")
    return page(
        request,
        browser,
        "pages/demo.html",
        {
            "claims": json.dumps(claims, indent=2, sort_keys=True),
        },
    )
