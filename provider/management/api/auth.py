"""Who calls the Management API: a machine client's access token (client_credentials) for the
audience `<issuer>api/v2/`, whose `scope` must hold the endpoint's scope."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from provider.context import AppContext
from provider.management.api.errors import ApiProblem
from provider.management.scopes import management_audience
from provider.oauth.keys import InvalidJWT


@dataclass(frozen=True)
class ApiCaller:
    client_id: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"client:{self.client_id}"


async def authorize_call(app: AppContext, request: Request, scope: str) -> ApiCaller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        raise ApiProblem(401, "Missing authentication", "missing_token")
    try:
        claims = app.minter.verify_access_token(token)
    except InvalidJWT as exc:
        raise ApiProblem(401, "Invalid token", "invalid_token") from exc
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if management_audience(app.settings.issuer) not in audiences:
        raise ApiProblem(
            401, "Bad audience: the token is not for the Management API", "invalid_audience"
        )
    client_id = str(claims.get("client_id", ""))
    if claims.get("gty") != "client-credentials" or claims.get("sub") != f"{client_id}@clients":
        # A user's token (password or code grant) never acts as its client here.
        message = "Invalid token: the Management API takes client_credentials tokens"
        raise ApiProblem(401, message, "invalid_token")
    if await app.store.tokens.is_revoked(str(claims.get("jti")), claims.get("gid")):
        raise ApiProblem(401, "Invalid token", "invalid_token")
    client = await app.store.clients.get(client_id)
    if client is None:
        raise ApiProblem(401, "Invalid token: the client no longer exists", "invalid_token")
    granted = frozenset(str(claims.get("scope", "")).split())
    if scope not in granted:
        raise ApiProblem(403, f"Insufficient scope, expected: {scope}", "insufficient_scope")
    return ApiCaller(client.id, granted)
