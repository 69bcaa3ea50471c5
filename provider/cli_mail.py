"""CLI commands for email: `provider mail list | show ID | send-test --to ADDRESS`."""

from __future__ import annotations

import asyncio
import json
import logging

import click

from provider.db.store import Store
from provider.mail.headers import BadHeader
from provider.mail.mailer import Mailer
from provider.mail.templates import TemplateRejected
from provider.mail.worker import DeliveryWorker
from provider.security.secrets import SecretBox

SEND_TEST_WAIT_SECONDS = 30


@click.group()
def mail() -> None:
    """Outgoing mail: the outbox and the built-in test provider's messages."""


@mail.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_context
def mail_list(ctx: click.Context, as_json: bool, limit: int) -> None:
    from provider.cli import _settings, _with_store

    messages = _with_store(_settings(ctx), lambda store, box: store.outbox.recent(limit))
    if as_json:
        click.echo(json.dumps([m.summary() for m in messages], indent=2))
        return
    for m in messages:
        error = f"  ({m.last_error})" if m.last_error and m.status != "sent" else ""
        click.echo(f"{m.id}  {m.status:<7} {m.provider:<4} {m.to_address}  {m.subject}{error}")
    if not messages:
        click.echo("no messages")


@mail.command("show")
@click.argument("message_id")
@click.pass_context
def mail_show(ctx: click.Context, message_id: str) -> None:
    from provider.cli import _settings, _with_store

    message = _with_store(_settings(ctx), lambda store, box: store.outbox.get(message_id))
    if message is None:
        raise click.ClickException(f"no message {message_id}")
    click.echo(
        f"From: {message.from_address}\nTo: {message.to_address}\n"
        f"Subject: {message.subject}\nStatus: {message.status} "
        f"({message.provider}, {message.attempts} attempt(s))"
    )
    if message.last_error:
        click.echo(f"Last error: {message.last_error}")
    click.echo("\n" + message.text_body)


@mail.command("send-test")
@click.option("--to", "to", required=True, help="Where to send the test message.")
@click.pass_context
def mail_send_test(ctx: click.Context, to: str) -> None:
    """Send a test message through the configured provider and report what happened."""
    from provider.cli import _settings, _with_store

    settings = _settings(ctx)
    # The outcome is reported below in one line; the worker's retry warnings would repeat it.
    logging.getLogger("provider.mail").setLevel(logging.ERROR)

    async def work(store: Store, box: SecretBox) -> tuple[str, str | None]:
        worker = DeliveryWorker(store, settings)
        try:
            message_id = await Mailer(store, settings, None).enqueue("test_message", to, {})
        except (BadHeader, TemplateRejected) as exc:
            raise click.ClickException(str(exc)) from exc
        for _ in range(SEND_TEST_WAIT_SECONDS * 2):
            await worker.deliver_due()  # a running server may deliver it first: also fine
            message = await store.outbox.get(message_id)
            assert message is not None
            if message.status != "pending" or message.last_error:
                return message.status, message.last_error
            await asyncio.sleep(0.5)
        return "pending", "not delivered yet"

    status, error = _with_store(settings, work)
    if status == "sent":
        provider = "SMTP" if settings.smtp else "the built-in test provider"
        click.echo(f"test message to {to} delivered through {provider}")
        return
    raise click.ClickException(f"test message not delivered: {error}")
