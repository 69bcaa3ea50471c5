"""Which local user an upstream identity signs in as — the linking rules.

- An identity is found by (issuer, sub), never by email.
- Every sign-in copies the upstream's email onto the user; the user's `email_verified` is
  true only when the upstream said `email_verified: true` (missing means false) AND the
  connection trusts it.
- A first sign-in whose email belongs to an existing local user links to it only when the
  connection allows linking, the upstream's email is verified and trusted, and the local
  email is verified too; the link is recorded (`linked_how = verified_email`). Otherwise it is
  refused — never a silent takeover on an unverified address.
- A re-login whose new email belongs to another account keeps the user's old email and marks
  it unverified: the upstream no longer vouches for it, and the new one is someone else's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from provider.db.connections import Connection
from provider.db.database import write_transaction
from provider.db.errors import DUPLICATE_KEY
from provider.db.identities import CREATED, VERIFIED_EMAIL, IdentityTaken
from provider.db.records import User
from provider.db.store import Store
from provider.db.users import EmailTaken, normalise_email
from provider.federation.errors import SignInRefused

log = logging.getLogger("provider.federation")


@dataclass(frozen=True)
class UpstreamProfile:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool  # as the upstream sent it (missing: False)
    name: str | None

    @classmethod
    def from_claims(cls, issuer: str, claims: dict[str, Any]) -> UpstreamProfile:
        email = claims.get("email")
        usable = isinstance(email, str) and "@" in email and len(email) <= 320
        name = claims.get("name")
        return cls(
            issuer=issuer,
            subject=str(claims["sub"]),
            email=normalise_email(email) if usable else None,  # type: ignore[arg-type]
            # Only a JSON true counts; "true" strings and a missing claim do not.
            email_verified=usable and claims.get("email_verified") is True,
            name=name[:200] if isinstance(name, str) and name else None,
        )


def _taken(connection: Connection) -> SignInRefused:
    return SignInRefused(
        f"An account with this email address already exists, and it cannot be signed in to "
        f"with {connection.display_name}. Sign in with your password instead.",
        detail="email belongs to a local user; linking not allowed or not verified",
    )


async def resolve_user(store: Store, connection: Connection, profile: UpstreamProfile) -> User:
    trusted = profile.email_verified and connection.trust_email_verified
    identity = await store.identities.find(profile.issuer, profile.subject)
    if identity is None:
        return await _first_sign_in(store, connection, profile, trusted)
    user = await store.users.get(identity.user_id)
    if user is None or user.blocked:
        raise SignInRefused(
            "This account cannot sign in. Contact the service's support.",
            detail="user missing or blocked",
        )
    new_email, verified = await _email_update(store, user, profile, trusted)
    try:
        await store.identities.record_login(
            identity,
            connection_id=connection.id,
            email=profile.email,
            upstream_verified=profile.email_verified,
            user_email=new_email,
            user_verified=verified,
        )
    except DUPLICATE_KEY:  # another account took the address between our check and write
        await store.identities.record_login(
            identity,
            connection_id=connection.id,
            email=profile.email,
            upstream_verified=profile.email_verified,
            user_email=None,
            user_verified=False,
        )
    return await store.users.get(user.id) or user


async def _email_update(
    store: Store, user: User, profile: UpstreamProfile, trusted: bool
) -> tuple[str | None, bool]:
    """(new email or None to keep the current one, the user's email_verified)."""
    if profile.email is None:
        # The upstream stopped sharing an address: nothing to copy; what we knew stands.
        return None, user.email_verified
    if profile.email == user.email:
        return None, trusted
    other = await store.users.by_email(profile.email)
    if other is not None and other.id != user.id:
        log.warning(
            "upstream email of user %s now belongs to user %s; kept the old one, unverified",
            user.id,
            other.id,
        )
        return None, False
    return profile.email, trusted


async def _first_sign_in(
    store: Store, connection: Connection, profile: UpstreamProfile, trusted: bool
) -> User:
    if profile.email is None:
        raise SignInRefused(
            f"{connection.display_name} did not share your email address, which this service "
            f"needs. Allow sharing it, or sign in another way.",
            detail="no email in id_token or userinfo",
        )
    existing = await store.users.by_email(profile.email)
    if existing is not None:
        if not (connection.allow_linking and trusted and existing.email_verified):
            raise _taken(connection)
        if existing.blocked:
            raise SignInRefused("This account cannot sign in. Contact the service's support.")
        try:
            await store.identities.add(
                existing.id,
                issuer=profile.issuer,
                subject=profile.subject,
                connection_id=connection.id,
                email=profile.email,
                email_verified=profile.email_verified,
                linked_how=VERIFIED_EMAIL,
            )
        except IdentityTaken:
            return await _concurrent(store, profile)
        log.info(
            "linked %s identity %s to user %s by verified email",
            connection.name,
            profile.subject,
            existing.id,
        )
        return existing
    try:
        async with write_transaction(store.database):  # the user and its identity, or neither
            user = await store.users.create(
                profile.email, None, email_verified=trusted, name=profile.name
            )
            await store.identities.add(
                user.id,
                issuer=profile.issuer,
                subject=profile.subject,
                connection_id=connection.id,
                email=profile.email,
                email_verified=profile.email_verified,
                linked_how=CREATED,
            )
    except EmailTaken as exc:
        raise _taken(connection) from exc
    except IdentityTaken:
        return await _concurrent(store, profile)
    return user


async def _concurrent(store: Store, profile: UpstreamProfile) -> User:
    """A parallel first sign-in of the same identity won: sign in as its user."""
    identity = await store.identities.find(profile.issuer, profile.subject)
    user = await store.users.get(identity.user_id) if identity else None
    if user is None:
        raise SignInRefused("Sign-in could not be completed. Try again.")
    return user
