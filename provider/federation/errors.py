"""What can go wrong with an upstream sign-in, as data the pages turn into a clear page.

FederationError           a sign-in through an upstream cannot go on
├── UpstreamUnavailable   the upstream did not answer, or not in a usable way (502)
├── UpstreamRefused       the upstream answered with an error (or the user cancelled)
├── BadIdToken            the ID token failed validation (issuer, audience, signature …)
└── SignInRefused         provider's own rules refuse the account (linking, blocked …)
"""

from __future__ import annotations


class FederationError(Exception):
    status_code = 400
    title = "Sign-in failed"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # for the server log, never shown to the user


class UpstreamUnavailable(FederationError):
    status_code = 502
    title = "The sign-in service is not available"


class UpstreamRefused(FederationError):
    title = "Sign-in failed"


class BadIdToken(FederationError):
    title = "Sign-in failed"


class SignInRefused(FederationError):
    status_code = 403
    title = "Cannot sign you in"
