"""Every error the password grant and the MFA API answer with, in one table.

Rows marked "Auth0" follow Auth0's documented strings; the others are provider's own choices
where Auth0 documents none (status codes Auth0 leaves unconfirmed included).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class ApiError(Exception):
    status: int
    error: str
    description: str

    def response(self, **extra: object) -> JSONResponse:
        body: dict[str, object] = {"error": self.error, "error_description": self.description}
        body.update(extra)
        headers = dict(NO_STORE)
        if self.status == 401 and self.error == "invalid_token":
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return JSONResponse(body, status_code=self.status, headers=headers)


ERRORS: dict[str, ApiError] = {
    # -- the password grant ------------------------------------------------------------------
    "wrong_credentials": ApiError(403, "invalid_grant", "Wrong email or password."),  # Auth0
    "login_throttled": ApiError(
        429,
        "too_many_attempts",
        "Too many failed sign-in attempts. Wait for some minutes before retrying.",
    ),
    "unknown_realm": ApiError(400, "invalid_request", "Unknown realm."),
    "missing_credentials": ApiError(
        400, "invalid_request", "Missing required parameter: username and password."
    ),
    "grant_not_allowed": ApiError(
        403, "unauthorized_client", "Grant type not allowed for the client."
    ),
    "mfa_required": ApiError(403, "mfa_required", "Multifactor authentication required"),  # Auth0
    # -- the mfa_token ----------------------------------------------------------------------
    "mfa_token_expired": ApiError(401, "expired_token", "mfa_token is expired"),  # Auth0
    "mfa_token_malformed": ApiError(400, "invalid_grant", "Malformed mfa_token"),  # Auth0
    "mfa_token_missing": ApiError(400, "invalid_request", "Missing required parameter: mfa_token"),
    # -- the MFA grants ---------------------------------------------------------------------
    "wrong_otp": ApiError(403, "invalid_grant", "Invalid otp_code."),  # Auth0
    "wrong_binding_code": ApiError(403, "invalid_grant", "Invalid binding_code."),  # Auth0
    "oob_code_expired": ApiError(403, "invalid_grant", "oob_code is expired"),  # Auth0
    "wrong_oob_code": ApiError(403, "invalid_grant", "Invalid oob_code."),
    "wrong_recovery_code": ApiError(403, "invalid_grant", "MFA Authorization rejected."),  # Auth0
    "too_many_codes": ApiError(
        429, "too_many_attempts", "Too many failed codes. Wait for some minutes before retrying."
    ),  # Auth0
    "too_many_emails": ApiError(
        429,
        "too_many_attempts",
        "Too many emails sent by the user. Wait for some minutes before retrying.",
    ),  # Auth0
    "mfa_locked": ApiError(
        429,
        "too_many_attempts",
        "Too many failed codes: multi-factor authentication is locked for this account. Try "
        "again later.",
    ),
    "missing_otp": ApiError(400, "invalid_request", "Missing required parameter: otp"),
    "missing_oob": ApiError(
        400, "invalid_request", "Missing required parameter: oob_code and binding_code"
    ),
    "missing_recovery_code": ApiError(
        400, "invalid_request", "Missing required parameter: recovery_code"
    ),
    # -- /mfa/challenge and /mfa/associate --------------------------------------------------
    "unsupported_challenge_type": ApiError(
        400, "unsupported_challenge_type", "The user has no authenticator of the requested type."
    ),  # Auth0 (error code)
    "association_required": ApiError(
        400, "association_required", "The user has no active authenticator: enroll one first."
    ),  # Auth0 (error code)
    "unknown_authenticator": ApiError(
        400, "invalid_request", "The authenticator_id does not name one of the user's."
    ),
    "already_enrolled": ApiError(403, "access_denied", "User is already enrolled."),  # Auth0
    "unsupported_authenticator_type": ApiError(
        400,
        "invalid_request",
        "authenticator_types must be ['otp'], or ['oob'] with oob_channels ['email'].",
    ),
    "bad_json": ApiError(400, "invalid_request", "The request body must be a JSON object."),
    # -- bearer tokens on /mfa/* ------------------------------------------------------------
    "no_token": ApiError(401, "invalid_token", "Missing or malformed Bearer token."),
    "bad_token": ApiError(401, "invalid_token", "The access token is invalid or expired."),
    "insufficient_scope": ApiError(
        403, "insufficient_scope", "The access token does not carry the scope this call needs."
    ),
    "authenticator_not_found": ApiError(404, "not_found", "Authenticator not found."),
    "authenticator_undeletable": ApiError(
        403, "access_denied", "A verified email cannot be removed as an authenticator."
    ),
}


def error(key: str) -> ApiError:
    return ERRORS[key]
