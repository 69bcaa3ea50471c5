"""The UserInfo endpoint (OIDC Core §5.3): GET with a Bearer token, or POST with
`access_token` in a form body (RFC 6750 §2.2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from provider.context import ctx
from provider.oauth.keys import InvalidJWT
from provider.oauth.oidc import user_claims
from provider.oauth.params import BodyTooLarge, first_values, read_params
from provider.oauth.responses import NO_STORE


def _bearer_error(status: int, error: str, description: str) -> Response:
    challenge = f'Bearer realm="provider", error="{error}", error_description="{description}"'
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": challenge, **NO_STORE},
    )


async def userinfo(request: Request) -> Response:
    app = ctx(request)
    token = None
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
    if request.method == "POST":
        try:
            form = first_values(await read_params(request, app.settings.max_body_bytes))
        except BodyTooLarge:
            return _bearer_error(413, "invalid_request", BodyTooLarge.description)
        except Exception:  # noqa: BLE001 - any unreadable body is simply a bad request
            return _bearer_error(400, "invalid_request", "The request body could not be read.")
        if form.get("access_token"):
            if token:
                return _bearer_error(400, "invalid_request", "Use one way to send the token.")
            token = form["access_token"]
    if not token:
        return JSONResponse(
            {"error": "invalid_request", "error_description": "An access token is required."},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="provider"', **NO_STORE},
        )
    try:
        claims = app.minter.verify_access_token(token)
    except InvalidJWT:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired.")
    aud = claims.get("aud")
    audiences = set(aud) if isinstance(aud, list) else {aud}
    if (
        app.minter.userinfo_audience not in audiences
        or "openid" not in str(claims.get("scope", "")).split()
    ):
        return _bearer_error(403, "insufficient_scope", "The token does not allow userinfo.")
    if await app.store.tokens.is_revoked(str(claims.get("jti")), claims.get("gid")):
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired.")
    user = await app.store.users.get(str(claims.get("sub")))
    if user is None or user.blocked:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired.")
    return JSONResponse(user_claims(user, str(claims.get("scope", ""))), headers=NO_STORE)
