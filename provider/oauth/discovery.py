"""OpenID Provider metadata (OIDC Discovery / RFC 8414) and the JWKS."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from provider.context import ctx
from provider.mfa_api.token import FIRST_PARTY_GRANTS
from provider.oauth.models import OIDC_SCOPES

GRANT_TYPES = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    *FIRST_PARTY_GRANTS,  # password, password-realm and Auth0's three MFA grants
]
CACHE_PUBLIC = {"Cache-Control": "public, max-age=300"}


def metadata(issuer: str, alg: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "authorize",
        "token_endpoint": issuer + "oauth/token",
        "userinfo_endpoint": issuer + "userinfo",
        "jwks_uri": issuer + ".well-known/jwks.json",
        "revocation_endpoint": issuer + "oauth/revoke",
        "introspection_endpoint": issuer + "oauth/introspect",
        "end_session_endpoint": issuer + "oidc/logout",
        "mfa_challenge_endpoint": issuer + "mfa/challenge",
        "scopes_supported": list(OIDC_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "name",
            "updated_at",
            "email",
            "email_verified",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": False,
        "claims_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
    }


async def openid_configuration(request: Request) -> Response:
    app = ctx(request)
    return JSONResponse(metadata(app.settings.issuer, app.keys.alg), headers=CACHE_PUBLIC)


async def jwks(request: Request) -> Response:
    return JSONResponse(ctx(request).keys.jwks, headers=CACHE_PUBLIC)
