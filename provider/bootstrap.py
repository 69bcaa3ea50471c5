"""First-run set-up of the embedded default: a demo user and client to try sign-in with."""

from __future__ import annotations

import logging

from provider.db.store import Store
from provider.security.passwords import hash_password
from provider.settings import Settings

log = logging.getLogger("provider")

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented demo credential, local only
DEMO_CLIENT_ID = "demo"


def demo_redirect_uri(settings: Settings) -> str:
    return settings.url("demo/callback")


async def ensure_demo(store: Store, settings: Settings) -> bool:
    """Create the demo user and public client once; True if they were created now."""
    if await store.clients.get(DEMO_CLIENT_ID):
        return False
    if not await store.users.by_email(DEMO_EMAIL):
        await store.users.create(
            DEMO_EMAIL, await hash_password(DEMO_PASSWORD), email_verified=True, name="Demo User"
        )
    await store.clients.create(
        client_id=DEMO_CLIENT_ID,
        name="Demo application",
        is_public=True,
        first_party=True,
        redirect_uris=[demo_redirect_uri(settings)],
        post_logout_redirect_uris=[settings.url("demo")],
        grant_types=["authorization_code", "refresh_token"],
    )
    return True


ADMIN_CLIENT_ID = "admin-dashboard"


def admin_redirect_uri(settings: Settings) -> str:
    return settings.url("admin/callback")


async def ensure_admin_client(store: Store, settings: Settings) -> None:
    """The dashboard signs in through provider itself as a first-party public client (PKCE);
    created once, and its redirect URI follows the issuer if that changes."""
    redirect = admin_redirect_uri(settings)
    client = await store.clients.get(ADMIN_CLIENT_ID)
    if client is None:
        await store.clients.create(
            client_id=ADMIN_CLIENT_ID,
            name="Admin dashboard",
            is_public=True,
            first_party=True,
            redirect_uris=[redirect],
            post_logout_redirect_uris=[settings.url("admin/login")],
            grant_types=["authorization_code"],
        )
    elif client.redirect_uris != [redirect]:
        await store.clients.update(ADMIN_CLIENT_ID, redirect_uris=[redirect])
