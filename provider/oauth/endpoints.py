"""Token, revocation and introspection endpoints: read, prefetch, let Authlib decide, commit."""

from __future__ import annotations

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from starlette.requests import Request
from starlette.responses import Response

from provider.context import AppContext, ctx
from provider.mfa_api.token import FIRST_PARTY_GRANTS, first_party_token
from provider.oauth.exchange import Exchange, current_exchange, prefetch
from provider.oauth.params import check_params, first_values, read_params
from provider.oauth.request import OAuthRequest
from provider.oauth.responses import error_response, to_response
from provider.oauth.server import AuthlibResult
from provider.oauth.token_lookup import look_up_token


async def _settle(app: AppContext, exchange: Exchange, result: AuthlibResult) -> Response:
    """Run the exchange's commit for a success, its failure actions otherwise."""
    if result.status < 400 and exchange.commit is not None:
        if not await exchange.commit():
            return error_response(InvalidGrantError("Invalid 'code' or 'refresh_token'."))
    elif result.status >= 400:
        for action in exchange.on_failure:
            await action()
    return to_response(result)


async def _prepare(
    request: Request, *, lookup_token: bool = False
) -> tuple[OAuthRequest, Exchange]:
    app = ctx(request)
    params = await read_params(request, app.settings.max_body_bytes)
    check_params(params)
    values = first_values(params)
    exchange = await prefetch(app.store, app.box, values, request.headers)
    if lookup_token:
        exchange.extra["token"] = await look_up_token(
            values.get("token"), values.get("token_type_hint"), app.store, app.box, app.minter
        )
    oauth_request = OAuthRequest(
        request.method, str(request.url), request.headers, params, exchange
    )
    return oauth_request, exchange


async def token(request: Request) -> Response:
    app = ctx(request)
    try:
        oauth_request, exchange = await _prepare(request)
    except OAuth2Error as error:
        return error_response(error)
    current_exchange.set(exchange)
    if oauth_request.payload.data.get("grant_type") in FIRST_PARTY_GRANTS:
        # Password and MFA grants need async work mid-validation (password hashing, the MFA
        # engine), so they run outside Authlib's synchronous grant flow.
        return await first_party_token(app, request, oauth_request.payload.datalist)
    result = app.oauth.create_token_response(oauth_request)
    return await _settle(app, exchange, result)


async def _token_endpoint(request: Request, name: str) -> Response:
    app = ctx(request)
    try:
        oauth_request, exchange = await _prepare(request, lookup_token=True)
    except OAuth2Error as error:
        return error_response(error)
    current_exchange.set(exchange)
    result = app.oauth.create_endpoint_response(name, oauth_request)
    return await _settle(app, exchange, result)


async def revoke(request: Request) -> Response:
    return await _token_endpoint(request, "revocation")


async def introspect(request: Request) -> Response:
    return await _token_endpoint(request, "introspection")
