"""Branding › Email provider and Email templates: the SMTP configuration (password write-only),
a check of a configuration, test messages, and template overrides with previews."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiosmtplib
from sqlalchemy import delete, select

from provider.clock import now
from provider.db.database import write_transaction
from provider.db.outbox import OutboxMessage
from provider.db.store import Store
from provider.db.tables import email_templates
from provider.mail.headers import BadHeader, check_address, check_header
from provider.mail.mailer import Mailer
from provider.mail.provider_config import TLS_MODES, EmailProvider, EmailProviderConfig
from provider.mail.templates import (
    DEFAULT_SUBJECTS,
    TemplateRejected,
    default_source,
    render_sources,
)
from provider.management.errors import NotFound, OperationError

EDITABLE_TEMPLATES = ("mfa_oob_code", "verify_email")
SAMPLE_CONTEXT: dict[str, dict[str, Any]] = {
    "mfa_oob_code": {
        "code": "123456",
        "lifetime_minutes": 5,
        "friendly_name": "jane@example.com",
        "user": {"email": "jane@example.com", "name": "Jane"},
    },
    "verify_email": {
        "url": "https://auth.example.com/verify-email?t=sample",
        "lifetime_minutes": 1440,
        "user": {"email": "jane@example.com", "name": "Jane"},
    },
}


def _check_provider(values: dict[str, Any]) -> EmailProvider:
    credentials = values.get("credentials") or {}
    if not isinstance(credentials, dict):
        raise OperationError("credentials: must be an object")
    host = credentials.get("smtp_host")
    port = credentials.get("smtp_port", 587)
    user = credentials.get("smtp_user")
    tls = credentials.get(
        "smtp_tls", "starttls" if port == 587 else "tls" if port == 465 else "none"
    )
    if (
        not isinstance(host, str)
        or not host
        or len(host) > 253
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in host)
    ):
        raise OperationError("credentials.smtp_host: a host name is required")
    try:
        host.encode("idna")  # what connecting does first: "\x87" or "a..b" would fail there
    except UnicodeError as exc:
        raise OperationError("credentials.smtp_host: not a valid host name") from exc
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise OperationError("credentials.smtp_port: a port between 1 and 65535")
    if user is not None and (not isinstance(user, str) or len(user) > 320):
        raise OperationError("credentials.smtp_user: a string")
    if tls not in TLS_MODES:
        raise OperationError("credentials.smtp_tls: none, starttls or tls")
    sender = values.get("default_from_address")
    if sender is not None:
        try:
            check_address(sender if isinstance(sender, str) else "")
        except BadHeader as exc:
            raise OperationError(f"default_from_address: {exc}") from exc
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        raise OperationError("enabled: true or false")
    return EmailProvider(enabled, host, port, user or None, tls, sender)


def _password(values: dict[str, Any]) -> str | None:
    credentials = values.get("credentials") or {}
    password = credentials.get("smtp_pass") if isinstance(credentials, dict) else None
    if password is not None and (not isinstance(password, str) or len(password) > 1000):
        raise OperationError("credentials.smtp_pass: a string")
    return password


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


@dataclass(frozen=True)
class TemplateState:
    template: str
    subject: str
    body: str  # HTML
    text: str
    from_address: str | None
    enabled: bool
    customised: bool

    def public(self) -> dict[str, Any]:
        """Auth0's email template shape."""
        return {
            "template": self.template,
            "subject": self.subject,
            "body": self.body,
            "text": self.text,
            "from": self.from_address,
            "syntax": "jinja2",
            "enabled": self.enabled,
        }


class EmailOperations:
    def __init__(self, store: Store, mailer: Mailer) -> None:
        self.store = store
        self.mailer = mailer
        self.providers: EmailProviderConfig = mailer.providers

    # -- provider ---------------------------------------------------------------------------
    async def provider(self) -> EmailProvider | None:
        return await self.providers.get()

    async def set_provider(
        self, values: dict[str, Any], actor: str, *, partial: bool
    ) -> EmailProvider:
        current = await self.providers.get()
        if partial:
            if current is None:
                raise NotFound("no email provider is configured")
            base = current.public()
            credentials = {**base["credentials"], **(values.get("credentials") or {})}
            values = {**base, **values, "credentials": credentials}
        provider = _check_provider(values)
        await self.providers.save(provider, _password(values))
        await self.store.audit.record(
            actor,
            "email_provider.update" if current else "email_provider.create",
            provider.host,
            {"enabled": provider.enabled, "port": provider.port},
        )
        saved = await self.providers.get()
        assert saved is not None
        return saved

    async def delete_provider(self, actor: str) -> None:
        if not await self.providers.delete():
            raise NotFound("no email provider is configured")
        await self.store.audit.record(actor, "email_provider.delete", None)

    async def check_provider(self, values: dict[str, Any] | None) -> CheckResult:
        """Connect and authenticate with a configuration (the stored one if `values` is None)
        without sending anything."""
        if values:
            provider = _check_provider(values)
            password = _password(values)
        else:
            stored = await self.providers.get()
            if stored is None:
                raise NotFound("no email provider is configured")
            provider, password = stored, None
        if password is None:  # not given: the stored one
            password = await self.providers.stored_password()
        settings = self.providers.smtp_of(provider, password)
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.tls == "tls",
            start_tls=settings.tls == "starttls",
            timeout=10,
        )
        try:
            await client.connect()
            if settings.username and settings.password:
                await client.login(settings.username, settings.password)
            await client.quit()
        except aiosmtplib.SMTPAuthenticationError as exc:
            return CheckResult(False, f"authentication failed: {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError, UnicodeError) as exc:
            return CheckResult(False, f"cannot reach the SMTP server: {exc}")
        return CheckResult(True, f"connected to {settings.host}:{settings.port}")

    async def send_test(self, to: str, actor: str) -> str:
        try:
            message_id = await self.mailer.enqueue("test_message", to, {})
        except (BadHeader, TemplateRejected) as exc:
            raise OperationError(str(exc)) from exc
        await self.store.audit.record(actor, "email_provider.test_message", to)
        return message_id

    async def recent_failures(self, limit: int = 10) -> list[OutboxMessage]:
        return [m for m in await self.store.outbox.recent(100) if m.last_error][:limit]

    # -- templates --------------------------------------------------------------------------
    def _sample(self, name: str) -> dict[str, Any]:
        return {"application": {"name": self.mailer.service_name}, **SAMPLE_CONTEXT[name]}

    async def template(self, name: str) -> TemplateState:
        if name not in EDITABLE_TEMPLATES:
            raise NotFound(f"no email template named {name!r}")
        row = await self.store.database.fetch_one(
            select(email_templates).where(email_templates.c.name == name)
        )
        return TemplateState(
            template=name,
            subject=(row and row["subject"]) or DEFAULT_SUBJECTS[name],
            body=(row and row["html_body"]) or default_source(name, "html"),
            text=(row and row["text_body"]) or default_source(name, "txt"),
            from_address=row["from_address"] if row else None,
            enabled=bool(row["enabled"]) if row else True,
            customised=row is not None,
        )

    async def update_template(
        self, name: str, changes: dict[str, Any], actor: str
    ) -> TemplateState:
        current = await self.template(name)
        fields = {"subject", "body", "text", "from", "enabled", "syntax", "template"}
        unknown = set(changes) - fields
        if unknown:
            raise OperationError(f"unknown field(s): {', '.join(sorted(unknown))}")
        subject = changes.get("subject", current.subject)
        body = changes.get("body", current.body)
        text = changes.get("text", current.text)
        sender = changes.get("from", current.from_address)
        enabled = changes.get("enabled", current.enabled)
        if not all(isinstance(v, str) for v in (subject, body, text)):
            raise OperationError("subject, body and text must be strings")
        if max(len(subject), 1) > 998 or len(body) > 100_000 or len(text) > 100_000:
            raise OperationError("the template is too long")
        if not isinstance(enabled, bool):
            raise OperationError("enabled: true or false")
        if sender:
            try:
                check_address(sender if isinstance(sender, str) else "")
            except BadHeader as exc:
                raise OperationError(f"from: {exc}") from exc
        try:
            check_header(subject)
            render_sources(subject, text, body, self._sample(name))
        except (BadHeader, TemplateRejected) as exc:
            raise OperationError(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a template can raise anything ({% include %})
            raise OperationError(f"the template cannot be rendered: {type(exc).__name__}") from exc
        async with write_transaction(self.store.database):
            await self.store.database.execute(
                delete(email_templates).where(email_templates.c.name == name)
            )
            await self.store.database.execute(
                email_templates.insert().values(
                    name=name,
                    subject=subject,
                    html_body=body,
                    text_body=text,
                    from_address=sender or None,
                    enabled=enabled,
                    updated_at=now(),
                )
            )
        await self.store.audit.record(
            actor, "email_template.update", name, {"fields": sorted(changes)}
        )
        return await self.template(name)

    async def reset_template(self, name: str, actor: str) -> TemplateState:
        await self.template(name)
        await self.store.database.execute(
            delete(email_templates).where(email_templates.c.name == name)
        )
        await self.store.audit.record(actor, "email_template.reset", name)
        return await self.template(name)

    async def preview(self, name: str, draft: dict[str, Any] | None = None) -> dict[str, str]:
        """The template rendered with sample data (a draft's sources if given)."""
        current = await self.template(name)
        draft = draft or {}
        subject = draft.get("subject", current.subject)
        body = draft.get("body", current.body)
        text = draft.get("text", current.text)
        if not all(isinstance(v, str) for v in (subject, body, text)):
            raise OperationError("subject, body and text must be strings")
        try:
            rendered = render_sources(subject, text, body, self._sample(name))
        except TemplateRejected as exc:
            raise OperationError(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a template can raise anything ({% include %})
            raise OperationError(f"the template cannot be rendered: {type(exc).__name__}") from exc
        return {
            "subject": rendered.subject,
            "body": rendered.html_body or "",
            "text": rendered.text_body,
        }
