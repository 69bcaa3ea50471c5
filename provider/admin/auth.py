"""Signing in to the dashboard through provider itself.

The dashboard is a relying party of its own server: /admin/login sends the browser to
/authorize for the built-in first-party public client `admin-dashboard` (PKCE S256,
`prompt=login`, `acr_values` asking for MFA, so a second factor is required whatever the MFA
policy), and /admin/callback exchanges the code in-process at the token endpoint, checks the
ID token (nonce, audience, `amr` with `mfa`, the MFA `acr`) and the admin role before it opens
an admin session.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from urllib.parse import urlencode

import httpx
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from provider.admin.message import message_page
from provider.admin.session import (
    COOKIE_PATH,
    Admin,
    Form,
    admin_post,
    clear_admin_cookie,
    limits,
    session_id_of,
    sessions,
    set_admin_cookie,
)
from provider.bootstrap import ADMIN_CLIENT_ID, admin_redirect_uri, ensure_admin_client
from provider.context import AppContext, ctx
from provider.db.roles import ADMIN
from provider.mfa.engine import MFA_ACR
from provider.oauth.keys import InvalidJWT

log = logging.getLogger("provider")
LOGIN_COOKIE = "provider_admin_login"
LOGIN_SECONDS = 15 * 60


def _serializer(app: AppContext) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.box.signing_key, salt="provider.admin-login")


async def login(request: Request) -> Response:
    app = ctx(request)
    await ensure_admin_client(app.store, app.settings)  # also when served without `prepare`
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": ADMIN_CLIENT_ID,
            "redirect_uri": admin_redirect_uri(app.settings),
            "scope": "openid email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            "acr_values": MFA_ACR,
            "prompt": "login",  # a fresh password for the dashboard, even with a session
        }
    )
    response = RedirectResponse("/authorize?" + query, status_code=303)
    # Lax, not Strict: the callback arrives as a redirect from the hosted pages.
    response.set_cookie(
        LOGIN_COOKIE,
        _serializer(app).dumps([state, nonce, verifier]),
        max_age=LOGIN_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=app.settings.cookies_secure,
    )
    return response


def _failed(request: Request, message: str, status_code: int = 400) -> Response:
    response = message_page(request, "Sign-in failed", message, status_code)
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


async def callback(request: Request) -> Response:
    app = ctx(request)
    try:
        state, nonce, verifier = _serializer(app).loads(
            request.cookies.get(LOGIN_COOKIE, ""), max_age=LOGIN_SECONDS
        )
    except (BadSignature, ValueError, TypeError):
        return _failed(request, "This sign-in has expired. Start again.")
    params = request.query_params
    if params.get("state") != state or params.get("iss") != app.settings.issuer:
        return _failed(request, "The response did not match the request. Start again.")
    if params.get("error"):
        return _failed(request, f"The sign-in ended with {params['error'][:100]}.")
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=app.settings.issuer) as client:
        answer = await client.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": params.get("code", ""),
                "redirect_uri": admin_redirect_uri(app.settings),
                "client_id": ADMIN_CLIENT_ID,
                "code_verifier": verifier,
            },
        )
    if answer.status_code != 200:
        return _failed(request, "The sign-in could not be completed. Start again.")
    try:
        claims = app.keys.verify(answer.json()["id_token"])
    except (InvalidJWT, KeyError, ValueError):
        return _failed(request, "The sign-in could not be completed. Start again.")
    amr = claims.get("amr") or []
    if claims.get("nonce") != nonce or claims.get("aud") != ADMIN_CLIENT_ID:
        return _failed(request, "The response did not match the request. Start again.")
    if "mfa" not in amr or claims.get("acr") != MFA_ACR:
        # Only reachable if MFA could not be asked for; never let such a sign-in in.
        return _failed(request, "The dashboard needs multi-factor authentication.", 403)
    user = await app.store.users.get(str(claims.get("sub", "")))
    if user is None or user.blocked or not await app.store.roles.has(user.id, ADMIN):
        return _failed(request, "This account may not use the admin dashboard.", 403)
    idle, _ = limits(app)
    session_id = await sessions(app).create(user.id, list(amr), MFA_ACR, idle)
    await app.store.audit.record(
        f"user:{user.id} {user.email}", "admin.sign_in", user.id, {"amr": list(amr)}
    )
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    set_admin_cookie(response, app, session_id)
    return response


async def _logout(request: Request, admin: Admin, form: Form) -> Response:
    app = ctx(request)
    await sessions(app).end(admin.session_id)
    await app.store.audit.record(admin.actor, "admin.sign_out", admin.user.id)
    response = message_page(request, "Signed out", "You are signed out of the dashboard.")
    clear_admin_cookie(response, app)
    return response


logout = admin_post(_logout)


async def home(request: Request) -> Response:
    target = "/admin/mfa" if session_id_of(request) else "/admin/login"
    return RedirectResponse(target, status_code=303)
