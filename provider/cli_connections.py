"""CLI for upstream identity providers: `provider connections …` and `provider users show`."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from provider.db.store import Store
from provider.federation.issuers import issuer_problem
from provider.federation.pages import CALLBACK_PATH
from provider.federation.presets import DEFAULT_SCOPES, PRESETS
from provider.management.connections import ConnectionOperations, ConnectionSpec
from provider.management.errors import OperationError
from provider.security.secrets import SecretBox

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def _print(obj: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(obj, indent=2) if as_json else text)


@click.group()
def connections() -> None:
    """Manage upstream OpenID providers users can sign in with (Google, any OIDC provider)."""


@connections.command("create")
@click.option("--name", required=True, help="Short name: lower-case letters, digits, '-'.")
@click.option("--issuer", default=None, help="The upstream's issuer URL (from the preset).")
@click.option("--client-id", required=True, help="provider's client id at the upstream.")
@click.option("--client-secret", required=True, help="provider's client secret there.")
@click.option("--scope", "scopes", multiple=True, help="Scopes to ask for (openid always).")
@click.option("--display-name", default=None, help='Shown as "Continue with <display name>".')
@click.option(
    "--trust-email-verified/--no-trust-email-verified",
    default=None,
    help="Believe the upstream's email_verified (default: on for --preset google, else off).",
)
@click.option(
    "--allow-linking/--no-allow-linking",
    default=False,
    show_default=True,
    help="Link a first sign-in to a local account with the same verified email.",
)
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def connections_create(
    ctx: click.Context,
    name: str,
    issuer: str | None,
    client_id: str,
    client_secret: str,
    scopes: tuple[str, ...],
    display_name: str | None,
    trust_email_verified: bool | None,
    allow_linking: bool,
    preset: str | None,
    as_json: bool,
) -> None:
    """Add a connection; prints the callback URL to register at the upstream."""
    from provider.cli import _settings, _with_store

    chosen = PRESETS.get(preset) if preset else None
    if not NAME.fullmatch(name):
        raise click.ClickException("--name: lower-case letters, digits and '-', at most 64")
    issuer = issuer or (chosen.issuer if chosen else None)
    if not issuer:
        raise click.ClickException("give --issuer (or --preset)")
    if problem := issuer_problem(issuer):
        raise click.ClickException(f"--issuer: {problem}")
    if len(issuer) > 500:
        raise click.ClickException("--issuer: at most 500 characters")
    if not client_id.strip() or not client_secret:
        raise click.ClickException("--client-id and --client-secret must not be empty")
    if len(client_id) > 500 or len(client_secret) > 2000:
        raise click.ClickException("--client-id or --client-secret is too long")
    wanted = list(scopes or (chosen.scopes if chosen else DEFAULT_SCOPES))
    if any(not s or " " in s for s in wanted):
        raise click.ClickException("--scope: one scope per option, without spaces")
    wanted = list(dict.fromkeys(["openid", *wanted]))
    trust = trust_email_verified
    if trust is None:
        trust = chosen.trust_email_verified if chosen else False
    shown_name = display_name or (chosen.display_name if chosen else name)
    settings = _settings(ctx)

    async def work(store: Store, box: SecretBox) -> Any:
        spec = ConnectionSpec(
            name=name,
            client_id=client_id,
            client_secret=client_secret,
            issuer=issuer,
            scopes=wanted,
            display_name=shown_name[:200],
            trust_email_verified=trust,
            allow_linking=allow_linking,
        )
        try:  # the operation checks the same rules again and records the change
            return await ConnectionOperations(store).create(spec, "cli")
        except OperationError as exc:
            raise click.ClickException(str(exc)) from exc

    connection = _with_store(settings, work)
    callback = settings.url(CALLBACK_PATH)
    _print(
        connection.public(callback),
        as_json,
        f"created connection {connection.name} ({connection.id})\n"
        f"register this callback (redirect) URL at the upstream: {callback}",
    )


@connections.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def connections_list(ctx: click.Context, as_json: bool) -> None:
    from provider.cli import _settings, _with_store

    settings = _settings(ctx)
    found = _with_store(settings, lambda store, box: store.connections.list())
    callback = settings.url(CALLBACK_PATH)
    _print(
        [c.public(callback) for c in found],
        as_json,
        "\n".join(
            f"{c.name}  {c.issuer}  {'trusts' if c.trust_email_verified else 'ignores'} "
            f"email_verified  {'linking' if c.allow_linking else 'no linking'}"
            for c in found
        )
        or "no connections",
    )


@connections.command("delete")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def connections_delete(ctx: click.Context, name: str, as_json: bool) -> None:
    """Remove a connection. Users keep their accounts and identities; adding a connection to
    the same issuer again lets them sign in as before."""
    from provider.cli import _settings, _with_store

    async def work(store: Store, box: SecretBox) -> None:
        found = await store.connections.by_name(name)
        if found is None:
            raise click.ClickException(f"no connection named {name}")
        await ConnectionOperations(store).delete(found.id, "cli")

    _with_store(_settings(ctx), work)
    _print({"deleted": name}, as_json, f"deleted connection {name}")


@click.command("show")
@click.argument("user")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def users_show(ctx: click.Context, user: str, as_json: bool) -> None:
    """Show a user (by email or id) with their upstream identities."""
    from provider.cli import _settings, _with_store

    async def work(store: Store, box: SecretBox) -> Any:
        found = await store.users.get(user) if user.startswith("usr_") else None
        found = found or await store.users.by_email(user)
        if found is None:
            raise click.ClickException(f"no user {user}")
        identities = await store.identities.for_user(found.id)
        return {**found.public(), "identities": [i.public() for i in identities]}

    shown = _with_store(_settings(ctx), work)
    lines = [
        f"{shown['user_id']}  {shown['email']}  "
        f"{'verified' if shown['email_verified'] else 'unverified'}"
    ]
    for identity in shown["identities"]:
        lines.append(
            f"  identity {identity['issuer']} sub={identity['subject']} "
            f"({identity['linked_how']}, email_verified={identity['email_verified']})"
        )
    if not shown["identities"]:
        lines.append("  no upstream identities")
    _print(shown, as_json, "\n".join(lines))
