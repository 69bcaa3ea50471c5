"""Multi-factor authentication. This package's public names are the factor plugin API; a plugin
imports them from here and nothing else (see docs/plugins.md)."""

from provider.mfa.api import (
    AUTHENTICATOR_TYPES,
    Authenticator,
    AuthenticatorStorage,
    Challenge,
    CodeStorage,
    Enrollment,
    EnrollmentError,
    Factor,
    FactorConfigError,
    FactorContext,
    FactorError,
    MailSender,
    RateLimiter,
    StoredAuthenticator,
    UserView,
    Verdict,
)

__all__ = [
    "AUTHENTICATOR_TYPES",
    "Authenticator",
    "AuthenticatorStorage",
    "Challenge",
    "CodeStorage",
    "Enrollment",
    "EnrollmentError",
    "Factor",
    "FactorConfigError",
    "FactorContext",
    "FactorError",
    "MailSender",
    "RateLimiter",
    "StoredAuthenticator",
    "UserView",
    "Verdict",
]
