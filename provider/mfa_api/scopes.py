"""What a first-party token request may ask for: OIDC scopes, the client's API, or the MFA
API itself (audience `<issuer>mfa/`), whose tokens are only ever issued after MFA."""

from __future__ import annotations

from provider.mfa_api.errors import ApiError
from provider.oauth.models import OAuthClient

MFA_SCOPES = ("enroll", "read:authenticators", "remove:authenticators")


def mfa_audience(issuer: str) -> str:
    return issuer + "mfa/"


def requested_audience(client: OAuthClient, issuer: str, audience: str | None) -> str | None:
    if not audience:
        return None
    if audience == mfa_audience(issuer) or audience in client.record.audiences:
        return audience
    raise ApiError(403, "access_denied", "Client is not authorized to access this audience.")


def granted_scope(client: OAuthClient, issuer: str, scope: str | None, audience: str | None) -> str:
    """The requested scopes the client may have; an empty or absent scope asks for none."""
    wanted = list(dict.fromkeys((scope or "").split()))
    allowed = client.allowed_scopes()
    if audience == mfa_audience(issuer):
        allowed = allowed | set(MFA_SCOPES)
    return " ".join(s for s in wanted if s in allowed)
