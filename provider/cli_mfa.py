"""CLI commands for multi-factor authentication: `provider factors …` and `provider mfa …`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from provider.db.store import Store
from provider.mfa.engine import POLICIES, MfaEngine, ToggleRefused, user_view
from provider.mfa.registry import RegistryError, build_registry
from provider.security.secrets import SecretBox
from provider.settings import Settings

T = TypeVar("T")


def _run_with_engine(ctx: click.Context, work: Callable[[MfaEngine, Store], Awaitable[T]]) -> T:
    from provider.cli import _settings, _with_store

    settings: Settings = _settings(ctx)
    try:
        registry = build_registry(settings.extra.get("mfa", {}))
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from exc

    async def runner(store: Store, box: SecretBox) -> T:
        return await work(MfaEngine(registry, store, box, settings), store)

    return _with_store(settings, runner)


@click.group()
def factors() -> None:
    """List and toggle MFA factor plugins."""


@factors.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def factors_list(ctx: click.Context, as_json: bool) -> None:
    async def work(engine: MfaEngine, store: Store) -> list[dict[str, Any]]:
        enabled = set(await engine.enabled_ids())
        return [
            {
                "id": info.id,
                "name": info.factor_class.display_name,
                "distribution": info.distribution,
                "version": info.version,
                "enabled": info.id in enabled,
                "independent": info.factor_class.independent,
                "authenticator_type": info.factor_class.authenticator_type,
            }
            for info in engine.registry
        ]

    rows = _run_with_engine(ctx, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['id']:<16} {'enabled ' if row['enabled'] else 'disabled'}  "
            f"{'independent' if row['independent'] else 'dependent  '}  "
            f"{row['distribution']} {row['version']}"
        )


def _toggle(ctx: click.Context, factor_id: str, enabled: bool) -> None:
    async def work(engine: MfaEngine, store: Store) -> None:
        try:
            await engine.set_enabled(factor_id, enabled)
        except ToggleRefused as exc:
            raise click.ClickException(str(exc)) from exc
        action = "guardian.factor.enable" if enabled else "guardian.factor.disable"
        await store.audit.record("cli", action, factor_id)

    _run_with_engine(ctx, work)
    click.echo(f"{factor_id} {'enabled' if enabled else 'disabled'}")


@factors.command("enable")
@click.argument("factor_id")
@click.pass_context
def factors_enable(ctx: click.Context, factor_id: str) -> None:
    _toggle(ctx, factor_id, True)


@factors.command("disable")
@click.argument("factor_id")
@click.pass_context
def factors_disable(ctx: click.Context, factor_id: str) -> None:
    _toggle(ctx, factor_id, False)


@click.group()
def mfa() -> None:
    """Server-wide MFA settings."""


@mfa.command("policy")
@click.argument("policy", required=False, type=click.Choice(POLICIES))
@click.pass_context
def mfa_policy(ctx: click.Context, policy: str | None) -> None:
    """Show or set when MFA is required: never, or always (per-client overrides apply)."""

    async def work(engine: MfaEngine, store: Store) -> str:
        if policy:
            await engine.set_policy(policy)
            await store.audit.record("cli", "guardian.policy", None, {"policy": policy})
        return await engine.policy()

    click.echo(f"mfa policy: {_run_with_engine(ctx, work)}")


@mfa.command("reset")
@click.option("--email", required=True, help="The user whose authenticators are removed.")
@click.pass_context
def mfa_reset(ctx: click.Context, email: str) -> None:
    """Remove a user's authenticators and lift an MFA lock (lost device)."""

    async def work(engine: MfaEngine, store: Store) -> None:
        user = await store.users.by_email(email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        await store.authenticators.delete_for_user(user.id)
        await store.mfa.reset_failures(user.id)
        # Also refill the failure bucket (the engine's key), or the user's first answer after
        # the reset (confirming a new authenticator) would still be throttled.
        await store.rate_limits.reset(f"mfa:failures:{user.id}")
        await store.audit.record("cli", "user.mfa_reset", user.id)

    _run_with_engine(ctx, work)
    click.echo(f"MFA reset for {email}")


@mfa.command("recovery-code")
@click.option("--email", required=True)
@click.pass_context
def mfa_recovery_code(ctx: click.Context, email: str) -> None:
    """Regenerate a user's recovery code (the old one stops working); prints it once."""

    async def work(engine: MfaEngine, store: Store) -> list[str]:
        user = await store.users.by_email(email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        factor = engine.factor("recovery-code")
        if factor is None or "recovery-code" not in await engine.enabled_ids():
            raise click.ClickException("the recovery-code factor is not enabled")
        await store.audit.record("cli", "user.recovery_code_regenerate", user.id)
        return await factor.provision(user_view(user))

    for code in _run_with_engine(ctx, work):
        click.echo(code)
