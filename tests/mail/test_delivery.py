"""Mail delivery end to end: real `provider serve` processes, a real SMTP server (aiosmtpd) and
the shared outbox. Nothing here depends on exact timing: every wait polls with a deadline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mail.smtp_capture import Received, SmtpCapture
from tests.servers import (
    POSTGRES_URL,
    ProviderServer,
    create_postgres_database,
    dispose,
    drop_postgres_database,
    free_port,
    new_server,
)

MAIL_FROM = "Provider Tests <noreply@tests.example>"
SUBJECT = "Test message from provider"
REFUSED = "nobody@tests.example"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

# Queue messages with provider's own code, in a separate process with the server's environment
# (same settings, secret and database - SQLite file or PostgreSQL), so the SERVER delivers them.
_ENQUEUE = """
import asyncio, json, sys
from provider.db.database import close_database, open_database
from provider.db.store import Store
from provider.mail.mailer import Mailer
from provider.security.secrets import SecretBox
from provider.settings import load_settings

async def main():
    settings = load_settings()
    database = await open_database(settings.effective_database_url)
    try:
        mailer = Mailer(Store(database, SecretBox(settings.resolved_secret_key())), settings, None)
        return [await mailer.enqueue("test_message", to, {}) for to in sys.argv[1:]]
    finally:
        await close_database(database)

print(json.dumps(asyncio.run(main())))
"""


def enqueue(server: ProviderServer, *to: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _ENQUEUE, *to],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def messages(server: ProviderServer) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in server.cli_json("mail", "list", "--limit", "1000")}


def wait_messages(
    server: ProviderServer,
    predicate: Callable[[dict[str, dict[str, Any]]], bool],
    timeout: float = 60,
    what: str = "outbox condition",
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = messages(server)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout} s: {found}\n{server.log()[-3000:]}")
        time.sleep(0.3)


def for_id(received: list[Received], message_id: str) -> list[Received]:
    """Envelopes for one outbox message (its id is in the Message-ID header)."""
    return [r for r in received if message_id in (r.message["Message-ID"] or "")]


def smtp_url(port: int, credentials: str = "") -> str:
    return f"smtp://{credentials}127.0.0.1:{port}?tls=none"


@pytest.fixture(scope="module")
def capture() -> Iterator[SmtpCapture]:
    smtp = SmtpCapture(free_port(), refuse=(REFUSED,)).start()
    yield smtp
    smtp.stop()


@pytest.fixture(scope="module")
def smtp_server(
    tmp_path_factory: pytest.TempPathFactory, capture: SmtpCapture
) -> Iterator[ProviderServer]:
    server = new_server(
        tmp_path_factory.mktemp("mail-smtp"),
        PROVIDER_SMTP_URL=smtp_url(capture.port),
        PROVIDER_MAIL_FROM=MAIL_FROM,
    )
    server.start()
    yield server
    dispose(server)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Callable[..., ProviderServer]]:
    """Servers (started or only used for the CLI) with their own data dir, disposed at the end."""
    made: list[ProviderServer] = []

    def make(**env: str) -> ProviderServer:
        server = new_server(tmp_path / f"s{len(made)}", **env)
        made.append(server)
        return server

    yield make
    for server in made:
        dispose(server)


# 1 ------------------------------------------------------------------------------------------


def test_server_delivers_queued_message_over_smtp(
    smtp_server: ProviderServer, capture: SmtpCapture
) -> None:
    (message_id,) = enqueue(smtp_server, "alice@tests.example")

    received = capture.wait_for(lambda got: for_id(got, message_id))
    (envelope,) = for_id(received, message_id)
    assert envelope.mail_from == "noreply@tests.example"
    assert envelope.rcpt_tos == ("alice@tests.example",)
    mail = envelope.message
    assert mail["From"] == MAIL_FROM
    assert mail["To"] == "alice@tests.example"
    assert mail["Subject"] == SUBJECT
    assert mail["Date"]
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "test message from provider" in text.get_content()
    assert "<p>" in html.get_content() and "test message from provider" in html.get_content()

    found = wait_messages(
        smtp_server, lambda m: m[message_id]["status"] == "sent", what="status sent"
    )
    row = found[message_id]
    assert row["provider"] == "smtp"
    assert row["attempts"] == 1
    assert row["last_error"] is None
    assert row["sent_at"]


# 2 ------------------------------------------------------------------------------------------


def test_smtp_down_for_a_while_message_waits_then_is_delivered(
    fresh: Callable[..., ProviderServer],
) -> None:
    port = free_port()  # nothing listens here yet
    server = fresh(PROVIDER_SMTP_URL=smtp_url(port), PROVIDER_MAIL_FROM=MAIL_FROM)
    server.start()
    (message_id,) = enqueue(server, "carol@tests.example")

    found = wait_messages(server, lambda m: m[message_id]["attempts"] >= 1, what="a failed attempt")
    row = found[message_id]
    assert row["status"] == "pending"
    assert "unreachable" in row["last_error"] and str(port) in row["last_error"], row
    # the human-readable list shows the reason too
    assert "unreachable" in server.cli("mail", "list").stdout

    smtp = SmtpCapture(port).start()
    try:
        received = smtp.wait_for(lambda got: for_id(got, message_id), timeout=90)
        found = wait_messages(
            server, lambda m: m[message_id]["status"] == "sent", what="sent after outage"
        )
        row = found[message_id]
        assert row["attempts"] >= 2
        assert row["last_error"] is None
        assert len(for_id(smtp.snapshot(), message_id)) == 1
        assert for_id(received, message_id)[0].rcpt_tos == ("carol@tests.example",)
    finally:
        smtp.stop()


# 3 ------------------------------------------------------------------------------------------


def test_smtp_authentication(fresh: Callable[..., ProviderServer]) -> None:
    smtp = SmtpCapture(free_port(), credentials=("mailer", "right-password")).start()
    try:
        wrong = fresh(PROVIDER_SMTP_URL=smtp_url(smtp.port, "mailer:wrong-password@"))
        result = wrong.cli("mail", "send-test", "--to", "bob@tests.example", check=False)
        assert result.returncode != 0
        # one line says what went wrong (other stderr lines are the worker's log warnings)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.stderr
        assert "authentication failed" in errors[0].lower(), result.stderr
        assert "Traceback" not in result.stderr

        (row,) = messages(wrong).values()
        assert row["status"] == "pending"  # a configuration problem: kept and retried
        assert "authentication failed" in row["last_error"].lower()
        assert row["attempts"] >= 1
        assert "authentication failed" in wrong.cli("mail", "list").stdout.lower()
        assert smtp.snapshot() == []

        # no credentials at all: the server answers 530 - also configuration, kept queued
        anonymous = fresh(PROVIDER_SMTP_URL=smtp_url(smtp.port))
        result = anonymous.cli("mail", "send-test", "--to", "bob@tests.example", check=False)
        assert result.returncode != 0
        assert "530" in result.stderr and "authentication" in result.stderr.lower()
        (row,) = messages(anonymous).values()
        assert row["status"] == "pending", row
        assert "authentication required" in row["last_error"].lower()
        assert smtp.snapshot() == []

        # the same server with the right password delivers
        right = fresh(PROVIDER_SMTP_URL=smtp_url(smtp.port, "mailer:right-password@"))
        result = right.cli("mail", "send-test", "--to", "bob@tests.example", check=False)
        assert result.returncode == 0, result.stderr
        assert "delivered through SMTP" in result.stdout
        (row,) = messages(right).values()
        assert row["status"] == "sent"
        assert len(for_id(smtp.snapshot(), row["id"])) == 1
    finally:
        smtp.stop()


# 4 ------------------------------------------------------------------------------------------


def test_permanent_recipient_refusal_fails_without_retry(
    smtp_server: ProviderServer, capture: SmtpCapture
) -> None:
    (message_id,) = enqueue(smtp_server, REFUSED)
    found = wait_messages(
        smtp_server,
        lambda m: m[message_id]["status"] != "pending" or m[message_id]["attempts"],
        what="an attempt",
    )
    row = found[message_id]
    assert row["status"] == "failed", row
    assert "550" in row["last_error"] and "no such user" in row["last_error"], row
    assert row["attempts"] == 1
    refused_before = capture.refused.count(REFUSED)
    assert refused_before >= 1

    time.sleep(7)  # longer than the first retry delay (5 s) plus a poll
    row = messages(smtp_server)[message_id]
    assert row["status"] == "failed" and row["attempts"] == 1
    assert capture.refused.count(REFUSED) == refused_before
    assert for_id(capture.snapshot(), message_id) == []


# 5 ------------------------------------------------------------------------------------------


def test_two_servers_sharing_the_outbox_deliver_each_message_once(
    smtp_server: ProviderServer, capture: SmtpCapture
) -> None:
    second = ProviderServer(
        data_dir=smtp_server.data_dir,
        port=free_port(),
        extra_env=dict(smtp_server.extra_env),
        database_url=smtp_server.database_url,
    )
    second.start()
    try:
        recipients = [f"user{i}@tests.example" for i in range(20)]
        ids = enqueue(smtp_server, *recipients)
        assert len(set(ids)) == 20

        capture.wait_for(lambda got: all(for_id(got, i) for i in ids), timeout=90)
        wait_messages(
            smtp_server,
            lambda m: all(m[i]["status"] == "sent" for i in ids),
            what="all 20 sent",
        )
        time.sleep(2)  # a duplicate would arrive about now
        received = capture.snapshot()
        per_message = Counter(i for i in ids for _ in for_id(received, i))
        assert per_message == Counter({i: 1 for i in ids}), per_message
        by_recipient = Counter(r for env in received for r in env.rcpt_tos if r in recipients)
        assert by_recipient == Counter({r: 1 for r in recipients})
        assert all(m["attempts"] == 1 for i, m in messages(smtp_server).items() if i in ids)
    finally:
        second.stop()


# 6 ------------------------------------------------------------------------------------------


def test_builtin_test_provider_send_test_show_and_dev_mailbox(
    fresh: Callable[..., ProviderServer],
) -> None:
    server = fresh()
    server.start()
    result = server.cli("mail", "send-test", "--to", "dev@tests.example")
    assert "built-in test provider" in result.stdout

    (row,) = [m for m in messages(server).values() if m["to"] == "dev@tests.example"]
    assert row["provider"] == "test" and row["status"] == "sent"
    shown = server.cli("mail", "show", row["id"]).stdout
    assert "To: dev@tests.example" in shown
    assert f"Subject: {SUBJECT}" in shown
    assert "This is a test message from provider" in shown

    page = httpx.get(server.base_url + "/dev/mail", timeout=10)
    assert page.status_code == 200
    assert "not for production" in page.text
    assert SUBJECT in page.text and "dev@tests.example" in page.text
    assert "This is a test message from provider" in page.text


def test_dev_mailbox_not_served_when_smtp_is_configured(smtp_server: ProviderServer) -> None:
    assert httpx.get(smtp_server.base_url + "/dev/mail", timeout=10).status_code == 404


def test_builtin_test_provider_rate_limit_holds_the_11th_message(
    fresh: Callable[..., ProviderServer],
) -> None:
    server = fresh()
    server.start()
    ids = enqueue(server, *[f"dev{i}@tests.example" for i in range(11)])  # one batch: < 1 s

    def limited(m: dict[str, dict[str, Any]]) -> bool:
        rows = [m[i] for i in ids]
        return sum(r["status"] == "sent" for r in rows) == 10 and any(
            r["status"] == "pending" and r["last_error"] for r in rows
        )

    found = wait_messages(server, limited, timeout=30, what="10 sent, 1 held")
    (held,) = [found[i] for i in ids if found[i]["status"] == "pending"]
    assert "10 messages a minute" in held["last_error"]

    # not lost: it goes out when the bucket has room again
    found = wait_messages(
        server, lambda m: m[held["id"]]["status"] == "sent", timeout=60, what="held one sent"
    )
    assert found[held["id"]]["attempts"] >= 2
    assert all(found[i]["status"] == "sent" for i in ids)


# 7 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "a@b.c\r\nBcc: x@y.z",
        "a@b.c\nBcc: x@y.z",
        "a@b.c, x@y.z",  # a second recipient in the To header
        "a@b.c <x@y.z>",
        "not-an-address",
    ],
)
def test_header_injection_refused(fresh: Callable[..., ProviderServer], address: str) -> None:
    server = fresh()
    result = server.cli("mail", "send-test", "--to", address, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error:"), result.stderr
    assert messages(server) == {}


async def _render_with_override(database_url: str, subject: str) -> Any:
    from provider.clock import now
    from provider.db.database import close_database, open_database
    from provider.db.store import Store
    from provider.db.tables import email_templates
    from provider.mail.templates import render
    from provider.security.secrets import SecretBox

    database = await open_database(database_url)
    try:
        await database.execute(email_templates.delete())
        await database.execute(
            email_templates.insert().values(
                name="test_message",
                subject=subject,
                html_body=None,
                text_body=None,
                from_address=None,
                enabled=True,
                updated_at=now(),
            )
        )
        store = Store(database, SecretBox("s" * 48))
        return await render(store, "test_message", {"application": {"name": "Acme"}})
    finally:
        await close_database(database)


@pytest.fixture
def template_db(tmp_path: Path) -> Iterator[str]:
    from provider.db.migrate import upgrade

    url = create_postgres_database() if POSTGRES_URL else f"sqlite:///{tmp_path / 'templates.db'}"
    upgrade(url)
    yield url
    if POSTGRES_URL:
        drop_postgres_database(url)


@pytest.mark.parametrize(
    "subject",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ application.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "Hi\r\nBcc: x@y.z",
        "{{ 'a\\nBcc: x@y.z' }}",
    ],
)
def test_template_override_sandboxed(template_db: str, subject: str) -> None:
    """A hostile override is never rendered: the message goes out with the built-in template
    (saving through the Management API or the dashboard refuses such templates outright)."""
    mail = asyncio.run(_render_with_override(template_db, subject))
    assert mail.subject == "Test message from Acme"
    for leaked in ("class", "Bcc", "mro", "globals"):
        assert leaked not in mail.subject + mail.text_body


def test_template_override_harmless_change_is_used(template_db: str) -> None:
    mail = asyncio.run(_render_with_override(template_db, "Hello {{ application.name }}"))
    assert mail.subject == "Hello Acme"
    assert "test message from Acme" in mail.text_body  # the built-in body still applies
    assert mail.html_body and "test message from Acme" in mail.html_body


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 10**9 }}",
        "{{ [0] * 100000 }}",
        "{{ 9 ** 99999 }}",
        "{{ 'a'.ljust(10**9) }}",
        "{{ 'a'.center(width=10**9) }}",
        "{{ 'a'|center(10**9) }}",
        "{{ 'a'|indent(10**9) }}",
    ],
)
def test_templates_cannot_allocate_huge_values(source: str) -> None:
    """The sandbox stops attribute escapes; provider also bounds repetition, powers and size
    arguments, so an operator's template cannot exhaust memory."""
    from provider.mail.templates import TemplateRejected, render_sources

    with pytest.raises(TemplateRejected):
        render_sources(source, "text", "<p>html</p>", {})


def test_ordinary_template_arithmetic_and_filters_still_work() -> None:
    from provider.mail.templates import render_sources

    mail = render_sources(
        "{{ 'ab' * 2 }} {{ 2 ** 10 }} {{ name|upper }} {{ 'x'|center(3) }}!",
        "{{ range(3)|list }}",
        "<p>{{ name }}</p>",
        {"name": "<jo>"},
    )
    assert mail.subject == "abab 1024 <JO>  x !"
    assert mail.text_body == "[0, 1, 2]" and mail.html_body == "<p>&lt;jo&gt;</p>"
