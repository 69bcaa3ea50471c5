"""The first-party grants' entry from /oauth/token: the password grants and the MFA grants."""

from __future__ import annotations

from authlib.oauth2.base import OAuth2Error
from starlette.requests import Request
from starlette.responses import Response

from provider.context import AppContext
from provider.mfa.context import current_client_address
from provider.mfa_api.clients import authenticate_client
from provider.mfa_api.errors import ApiError
from provider.mfa_api.mfa_grants import MFA_GRANTS, mfa_grant
from provider.mfa_api.password_grant import PASSWORD, PASSWORD_REALM, password_grant
from provider.oauth.params import first_values
from provider.oauth.responses import error_response

FIRST_PARTY_GRANTS = (PASSWORD, PASSWORD_REALM, *MFA_GRANTS)


async def first_party_token(
    app: AppContext, request: Request, params: dict[str, list[str]]
) -> Response:
    address = request.client.host if request.client else "unknown"
    current_client_address.set(address)
    try:
        client = await authenticate_client(
            app, request.method, str(request.url), request.headers, params
        )
        values = first_values(params)
        if values["grant_type"] in MFA_GRANTS:
            return await mfa_grant(app, client, values)
        return await password_grant(app, client, values, address)
    except ApiError as exc:
        return exc.response()
    except OAuth2Error as exc:
        return error_response(exc)
