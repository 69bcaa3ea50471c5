"""The factor plugin API: everything a factor plugin author needs, and nothing else.

A factor is a class deriving from `Factor`, registered under the entry-point group
`provider.factors`. provider instantiates it once per process with a `FactorContext` and calls
its async methods; the factor returns values (`Authenticator`, `Challenge`, `Verdict`,
`Enrollment`) and never builds HTTP responses. See docs/plugins.md for a walk-through.

Errors a plugin may raise:

    FactorError                 base class
      ├── FactorConfigError     its [mfa.factors.<id>] settings are invalid (raised at start-up)
      └── EnrollmentError       an enrollment cannot go on (message shown to the user)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

AUTHENTICATOR_TYPES = ("otp", "oob", "recovery-code")
"""The values `Factor.authenticator_type` may take (Auth0's authenticator types)."""


class FactorError(Exception):
    """Base class of the errors a factor plugin raises."""


class FactorConfigError(FactorError):
    """The factor's settings are invalid; provider refuses to start and prints the message."""


class EnrollmentError(FactorError):
    """Enrollment cannot go on; the message is shown to the user as it is."""


@dataclass(frozen=True)
class UserView:
    """What a factor may know about a user (no password hash, no other secrets)."""

    id: str
    email: str
    email_verified: bool
    name: str | None = None


@dataclass(frozen=True)
class Authenticator:
    """One way a user can answer a factor's challenge: a TOTP app, a set of recovery codes, an
    email address. `implicit` ones (a verified email) exist without enrollment and cannot be
    deleted."""

    id: str  # "<factor id>|dev_<random>", stable
    factor_id: str
    authenticator_type: str  # otp | oob | recovery-code
    name: str | None = None  # a label safe to show (emails masked)
    active: bool = True
    oob_channel: str | None = None
    implicit: bool = False


@dataclass(frozen=True)
class Challenge:
    """What the user is asked for. `prompt` is shown above the input; `details` carries
    plugin-specific facts for templates and APIs (e.g. the masked address a code went to)."""

    authenticator_id: str
    prompt: str
    input_label: str = "Code"
    input_mode: str = "numeric"  # numeric | text: a hint for the input field
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a response. A refused verdict's `message` is shown to the user;
    `new_secret` (e.g. a fresh recovery code) is shown once after an accepted verdict.
    `expired` marks a refusal because the code was right-shaped but no longer valid in time,
    which the MFA API reports distinctly (Auth0's "oob_code is expired")."""

    accepted: bool
    message: str | None = None
    new_secret: str | None = None
    expired: bool = False

    @classmethod
    def accept(cls, new_secret: str | None = None) -> Verdict:
        return cls(True, None, new_secret)

    @classmethod
    def refuse(cls, message: str, *, expired: bool = False) -> Verdict:
        return cls(False, message, None, expired)


@dataclass(frozen=True)
class Enrollment:
    """A started enrollment: the pending authenticator and what to show the user once."""

    authenticator_id: str
    instructions: str
    secret: str | None = None  # shown for manual entry (e.g. a TOTP key in base32)
    uri: str | None = None  # e.g. otpauth://…
    qr_svg: str | None = None  # an SVG image of `uri`
    # Last, so that positional construction in the documented order keeps working.
    input_label: str = "Code"
    input_mode: str = "numeric"  # numeric | text


@dataclass(frozen=True)
class StoredAuthenticator:
    """A row of the factor's own authenticator storage."""

    id: str
    user_id: str
    name: str | None
    secret: bytes | None  # decrypted on read; sealed at rest
    data: Mapping[str, Any]
    counter: int
    confirmed: bool
    created_at: int


class AuthenticatorStorage(Protocol):
    """Storage scoped to one factor: a factor sees and changes only its own rows. Rows of
    every user of the factor are reachable by id: check `row.user_id` against the user you
    were called for. Pending (unconfirmed) rows older than 15 minutes read as absent."""

    async def create(
        self,
        user_id: str,
        *,
        name: str | None = None,
        secret: bytes | None = None,
        data: Mapping[str, Any] | None = None,
        confirmed: bool = False,
    ) -> StoredAuthenticator: ...

    async def get(self, authenticator_id: str) -> StoredAuthenticator | None: ...

    async def list(
        self, user_id: str, *, confirmed_only: bool = True
    ) -> list[StoredAuthenticator]: ...

    async def confirm(
        self, authenticator_id: str, *, data: Mapping[str, Any] | None = None
    ) -> bool:
        """Confirm a pending row (optionally replacing its data): True for exactly one caller;
        False if it was already confirmed or is gone."""
        ...

    async def delete(self, authenticator_id: str) -> bool:
        """True for exactly one caller when several delete the same row (single use)."""
        ...

    async def advance_counter(self, authenticator_id: str, value: int) -> bool:
        """Set the counter to `value` only if it is below it: True for exactly one caller.
        (TOTP uses it so that a time step is accepted once.)"""
        ...


class RateLimiter(Protocol):
    """Buckets kept in the database, namespaced per factor: `burst` events, then one per
    `interval_ms`. They hold across processes and replicas."""

    async def charge(self, key: str, burst: int, interval_ms: int) -> bool: ...

    async def allowed(self, key: str, burst: int, interval_ms: int) -> bool: ...

    async def reset(self, key: str) -> None: ...


class CodeStorage(Protocol):
    """One-time codes of this factor (e.g. emailed codes), kept as keyed hashes: one live code
    per key, so issuing a new code invalidates the previous one."""

    async def issue(self, key: str, code_hash: str, ttl: int) -> None: ...

    async def consume(self, key: str, code_hash: str) -> str:
        """'ok' exactly once for the right, unexpired code (it is then gone); else 'wrong',
        'expired' or 'missing'."""
        ...


class MailSender(Protocol):
    """Mail through provider's outbox: queued, never sent in the request, retried until the
    mail server takes it."""

    async def send(self, template: str, to: str, variables: Mapping[str, Any]) -> str:
        """Queue a message from an email template (e.g. "mfa_oob_code"); returns its id."""
        ...

    async def delayed(self) -> bool:
        """True while delivery is failing or backed up (tell the user their email is late)."""
        ...


class FactorContext(Protocol):
    """What provider gives a factor: its settings, its storage, hashing, a clock, limits,
    one-time codes and mail."""

    factor_id: str
    settings: Mapping[str, Any]  # the validated [mfa.factors.<id>] table
    issuer: str  # the server's issuer URL
    service_name: str  # a human name for the service (authenticator app labels)
    authenticators: AuthenticatorStorage
    limiter: RateLimiter
    codes: CodeStorage
    mail: MailSender

    def now(self) -> int:
        """Unix time in seconds."""
        ...

    def client_address(self) -> str | None:
        """The network address of the client making the current request (per-IP limits)."""
        ...

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 under a server key: for storing codes that must only be compared."""
        ...


class Factor(ABC):
    """Base class of every factor plugin. Subclasses set the class attributes and implement
    the abstract methods; the defaults of the others suit most factors."""

    id: ClassVar[str]  # stable id, used in configuration and authenticator ids
    display_name: ClassVar[str]  # shown under "Try another method"
    authenticator_type: ClassVar[str]  # otp | oob | recovery-code (Auth0's types)
    oob_channel: ClassVar[str | None] = None
    # Independent factors may be a user's only second factor; dependent ones (email, recovery
    # codes) only accompany an independent one.
    independent: ClassVar[bool]
    amr: ClassVar[tuple[str, ...]]  # RFC 8176 values added to tokens after a success
    enrollable: ClassVar[bool] = True  # users may enroll it themselves on the hosted pages

    def __init__(self, context: FactorContext) -> None:
        self.context = context

    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        """Check the factor's [mfa.factors.<id>] settings (without `enabled`); return them,
        normalised. Raise FactorConfigError to stop start-up. The default accepts none."""
        if settings:
            raise FactorConfigError(f"unknown setting(s): {', '.join(sorted(settings))}")
        return {}

    async def list_authenticators(self, user: UserView) -> list[Authenticator]:
        """The user's usable authenticators of this factor (confirmed rows by default)."""
        rows = await self.context.authenticators.list(user.id)
        return [
            Authenticator(
                id=row.id,
                factor_id=self.id,
                authenticator_type=self.authenticator_type,
                name=row.name,
                oob_channel=self.oob_channel,
            )
            for row in rows
        ]

    async def begin_enrollment(self, user: UserView) -> Enrollment:
        """Start enrolling; the pending authenticator is confirmed by `confirm_enrollment`."""
        raise EnrollmentError(f"{self.display_name} cannot be enrolled here.")

    async def confirm_enrollment(
        self, user: UserView, authenticator_id: str, response: str
    ) -> Verdict:
        """Check the first response of a pending authenticator and confirm it if right."""
        raise EnrollmentError(f"{self.display_name} cannot be enrolled here.")

    async def provision(self, user: UserView) -> list[str]:
        """Called when a user confirms their first authenticator of any factor; secrets it
        returns (recovery codes) are shown to the user once. Default: nothing."""
        return []

    @abstractmethod
    async def challenge(
        self, user: UserView, authenticator: Authenticator, transaction_id: str
    ) -> Challenge:
        """Ask for a response (and, for out-of-band factors, send the code)."""

    @abstractmethod
    async def verify(
        self, user: UserView, authenticator: Authenticator, transaction_id: str, response: str
    ) -> Verdict:
        """Check a response. Attempt limits and the per-user failure bucket are applied by
        provider around this call; a factor adds only what is specific to it (e.g. replay)."""
