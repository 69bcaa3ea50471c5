"""The operator CLI: `provider serve | migrate | users | clients | keys`."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import click
from sqlalchemy.exc import SQLAlchemyError

from provider.bootstrap import DEMO_EMAIL, DEMO_PASSWORD, ensure_admin_client, ensure_demo
from provider.db.database import (
    close_database,
    open_database,
    sqlite_file_problem,
    write_transaction,
)
from provider.db.migrate import upgrade
from provider.db.store import Store
from provider.db.users import EmailTaken
from provider.mfa.registry import RegistryError, build_registry
from provider.oauth.keys import rotate_keys
from provider.security.passwords import hash_password, password_problem
from provider.security.secrets import SecretBox
from provider.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", "password")


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _with_store(settings: Settings, work: Callable[[Store, SecretBox], Awaitable[T]]) -> T:
    async def runner() -> T:
        box = SecretBox(settings.resolved_secret_key())
        database = await open_database(settings.effective_database_url)
        try:
            return await work(Store(database, box), box)
        finally:
            await close_database(database)

    settings.prepare_data_dir()
    if problem := sqlite_file_problem(settings.effective_database_url):
        raise click.ClickException(f"database_url: cannot use the database: {problem}")
    try:
        upgrade(settings.effective_database_url)
    except (OSError, SQLAlchemyError, asyncpg.PostgresError, sqlite3.Error) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise click.ClickException(f"database_url: cannot use the database: {reason}") from exc
    return asyncio.run(runner())


def _print(obj: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(obj, indent=2) if as_json else text)


@click.group()
@click.option("--config", type=click.Path(dir_okay=False), help="provider.toml to read.")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """provider: an OAuth 2.0 / OpenID Connect server with pluggable MFA."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    if config:
        os.environ["PROVIDER_CONFIG"] = config  # so uvicorn workers read the same file


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply database migrations and create what a first start needs (signing key, demo)."""
    settings = _settings(ctx)
    prepare(settings)
    click.echo("database is up to date")


def prepare(settings: Settings) -> bool:
    """Migrate, make sure a signing key exists, create the demo; True if the demo is new."""
    from provider.oauth.keys import KeyRing

    build_registry(settings.extra.get("mfa", {}))  # refuse bad factor configuration early

    async def work(store: Store, box: SecretBox) -> bool:
        keys = KeyRing(store, box, settings.issuer)
        await keys.load(
            alg=settings.signing_alg,
            max_token_ttl=max(settings.access_token_ttl, settings.id_token_ttl),
        )
        await ensure_admin_client(store, settings)
        return settings.demo and await ensure_demo(store, settings)

    return _with_store(settings, work)


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Run the server (applies migrations first)."""
    import uvicorn

    if bool(tls_cert) != bool(tls_key):
        raise click.ClickException("--tls-cert and --tls-key go together")
    settings = _settings(ctx)
    if prepare(settings):
        click.echo(
            f"First run: created the demo user {DEMO_EMAIL} / {DEMO_PASSWORD}.\n"
            f"Try the sign-in flow at {settings.url('demo')}"
        )
    uvicorn.run(
        "provider.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        proxy_headers=False,
        server_header=False,
        log_level=os.environ.get("PROVIDER_LOG_LEVEL", "info"),
    )


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--name", default=None)
@click.option("--email-verified", is_flag=True, help="Mark the email as verified.")
@click.option("--send-verification", is_flag=True, help="Email the user a verification link.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def users_create(
    ctx: click.Context,
    email: str,
    password: str,
    name: str | None,
    email_verified: bool,
    send_verification: bool,
    as_json: bool,
) -> None:
    from provider.mail.mailer import Mailer
    from provider.mail.verification import send_verification as send_link

    if "@" not in email or len(email) > 320:
        raise click.ClickException(f"not an email address: {email!r}")
    if problem := password_problem(password):
        raise click.ClickException(problem)
    if send_verification and email_verified:
        raise click.ClickException("--send-verification and --email-verified exclude each other")
    settings = _settings(ctx)

    async def work(store: Store, box: SecretBox) -> Any:
        try:
            async with write_transaction(store.database):  # the user and the link, or neither
                user = await store.users.create(
                    email,
                    await hash_password(password),
                    email_verified=email_verified,
                    name=name,
                )
                if send_verification:
                    await send_link(settings, box, Mailer(store, settings, None), user)
                await store.audit.record("cli", "user.create", user.id, {"email": user.email})
                return user
        except EmailTaken as exc:
            raise click.ClickException(f"a user with email {email} already exists") from exc

    user = _with_store(settings, work)
    _print(user.public(), as_json, f"created user {user.id} <{user.email}>")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    found = _with_store(_settings(ctx), lambda store, box: store.users.list(limit=1000))
    _print(
        [u.public() for u in found],
        as_json,
        "\n".join(
            f"{u.id}  {u.email}  {'verified' if u.email_verified else 'unverified'}" for u in found
        )
        or "no users",
    )


@users.command("grant-admin")
@click.option("--email", required=True)
@click.option("--revoke", is_flag=True, help="Take the admin role away instead.")
@click.pass_context
def users_grant_admin(ctx: click.Context, email: str, revoke: bool) -> None:
    """Let a user into the admin dashboard (/admin); MFA is always required there."""
    from provider.db.roles import ADMIN

    async def work(store: Store, box: SecretBox) -> None:
        user = await store.users.by_email(email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        if revoke:
            await store.roles.revoke(user.id, ADMIN)
        else:
            await store.roles.grant(user.id, ADMIN)
        action = "user.revoke_admin" if revoke else "user.grant_admin"
        await store.audit.record("cli", action, user.id)

    _with_store(_settings(ctx), work)
    click.echo(f"{email} {'is no longer' if revoke else 'is now'} an admin")


@users.command("set-email")
@click.option("--email", required=True, help="The user's current email address.")
@click.option("--new", "new_email", required=True, help="The new address (unverified).")
@click.pass_context
def users_set_email(ctx: click.Context, email: str, new_email: str) -> None:
    """Change a user's email; the new address must be verified again."""
    if "@" not in new_email or len(new_email) > 320:
        raise click.ClickException(f"not an email address: {new_email!r}")

    async def work(store: Store, box: SecretBox) -> None:
        user = await store.users.by_email(email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        try:
            await store.users.change_email(user.id, new_email)
        except EmailTaken as exc:
            raise click.ClickException(f"a user with email {new_email} already exists") from exc

    _with_store(_settings(ctx), work)
    click.echo(f"{email} is now {new_email} (unverified)")


@users.command("verify-email")
@click.option("--email", required=True, help="The user's email address.")
@click.option("--send", "action", flag_value="send", help="Send a verification link.")
@click.option("--set", "action", flag_value="set", help="Mark the email verified.")
@click.option("--unset", "action", flag_value="unset", help="Mark the email unverified.")
@click.pass_context
def users_verify_email(ctx: click.Context, email: str, action: str | None) -> None:
    """Send a verification link, or set the email_verified flag as an operator."""
    from provider.mail.mailer import Mailer
    from provider.mail.verification import send_verification

    if action is None:
        raise click.ClickException("give one of --send, --set, --unset")
    settings = _settings(ctx)

    async def work(store: Store, box: SecretBox) -> str:
        user = await store.users.by_email(email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        if action == "send":
            message_id = await send_verification(settings, box, Mailer(store, settings, None), user)
            return f"verification link queued for {user.email} (message {message_id})"
        await store.users.set_email_verified(user.id, action == "set")
        return f"{user.email} is now {'verified' if action == 'set' else 'unverified'}"

    click.echo(_with_store(settings, work))


@main.group()
def clients() -> None:
    """Manage OAuth clients (applications)."""


@clients.command("create")
@click.option("--name", required=True)
@click.option("--public", is_flag=True, help="A public client (SPA, native): no secret, PKCE.")
@click.option("--first-party", is_flag=True, help="Trusted: users are not asked for consent.")
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--logout-uri", "logout_uris", multiple=True, help="Allowed post-logout URL.")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES))
@click.option("--audience", "audiences", multiple=True, help="An API it may request tokens for.")
@click.option("--scope", "scopes", multiple=True, help="An API scope it may be granted.")
@click.option(
    "--api-scopes",
    default="",
    help="Authorize it for the Management API: 'all' or space-separated scopes "
    "(needs --grant-type client_credentials).",
)
@click.option(
    "--mfa-policy",
    type=click.Choice(["never", "always"]),
    default=None,
    help="Override the server's MFA policy for this client.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def clients_create(
    ctx: click.Context,
    name: str,
    public: bool,
    first_party: bool,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    grant_types: tuple[str, ...],
    audiences: tuple[str, ...],
    scopes: tuple[str, ...],
    api_scopes: str,
    mfa_policy: str | None,
    as_json: bool,
) -> None:
    from provider.management.clients import (
        ClientOperations,
        ClientSpec,
        check_spec,
        with_api_scopes,
    )
    from provider.management.errors import OperationError

    settings = _settings(ctx)
    spec = ClientSpec(
        name=name,
        is_public=public,
        first_party=first_party,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(logout_uris),
        grant_types=list(grant_types),
        audiences=list(audiences),
        scopes=list(scopes),
        mfa_policy=mfa_policy,
    )
    try:
        spec = with_api_scopes(check_spec(spec), settings.issuer, api_scopes.split())
    except OperationError as exc:
        raise click.ClickException(str(exc)) from exc

    async def work(store: Store, box: SecretBox) -> tuple[Any, str | None]:
        return await ClientOperations(store).create(spec, "cli")

    client, secret = _with_store(settings, work)
    shown = client.public()
    if secret:
        shown["client_secret"] = secret
    text = f"created client {client.id}"
    if secret:
        text += f"\nclient secret (shown once): {secret}"
    _print(shown, as_json, text)


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def clients_list(ctx: click.Context, as_json: bool) -> None:
    found = _with_store(_settings(ctx), lambda store, box: store.clients.list())
    _print(
        [c.public() for c in found],
        as_json,
        "\n".join(
            f"{c.id}  {c.name}  {'public' if c.is_public else 'confidential'}  "
            f"{','.join(c.grant_types)}"
            for c in found
        )
        or "no clients",
    )


@main.group()
def keys() -> None:
    """Manage signing keys."""


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Add a new signing key; old keys stay published until their tokens expire."""
    settings = _settings(ctx)
    ttl = max(settings.access_token_ttl, settings.id_token_ttl)
    kid = _with_store(
        settings, lambda store, box: rotate_keys(store, box, settings.signing_alg, ttl)
    )
    click.echo(f"new signing key {kid}; running servers pick it up within 30 seconds")


def _register_mfa_commands() -> None:
    from provider.cli_mail import mail
    from provider.cli_mfa import factors, mfa

    main.add_command(factors)
    main.add_command(mfa)
    main.add_command(mail)


def _register_connection_commands() -> None:
    from provider.cli_connections import connections, users_show

    main.add_command(connections)
    users.add_command(users_show)


_register_mfa_commands()
_register_connection_commands()


def run() -> None:
    """Entry point: every failure ends as one line on stderr and a non-zero exit."""
    try:
        main(standalone_mode=True)
    except SettingsError as exc:
        click.echo(f"provider: {exc}", err=True)
        sys.exit(2)
    except (OSError, SQLAlchemyError, asyncpg.PostgresError, sqlite3.Error, RegistryError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        click.echo(f"provider: error: {reason}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
