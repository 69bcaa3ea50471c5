"""Handing a message to an SMTP server (aiosmtplib), and sorting failures into ones worth
retrying and ones that never will succeed."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from provider.db.outbox import OutboxMessage
from provider.settings import SmtpSettings


class TransientFailure(Exception):
    """Try again later: the server is down, busy, or refused for now (4xx)."""


class PermanentFailure(Exception):
    """The server refused this message for good (5xx on sender, recipient or content)."""


def build_message(message: OutboxMessage) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = message.from_address
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(idstring=message.id)
    mail.set_content(message.text_body)
    if message.html_body:
        mail.add_alternative(message.html_body, subtype="html")
    return mail


async def send_smtp(smtp: SmtpSettings, message: OutboxMessage) -> None:
    try:
        await aiosmtplib.send(
            build_message(message),
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.tls == "tls",
            start_tls=smtp.tls == "starttls",
            timeout=smtp.timeout,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        # A configuration problem, not the message's: keep it queued until the operator fixes it.
        raise TransientFailure(f"SMTP authentication failed: {exc.code} {exc.message}") from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [e.code for e in exc.recipients]
        detail = "; ".join(f"{e.code} {e.message}" for e in exc.recipients)
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"recipient refused: {detail}") from exc
        raise TransientFailure(f"recipient deferred: {detail}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 530:  # authentication required: configuration, like a wrong password
            text = f"SMTP authentication required: {exc.code} {exc.message}"
            raise TransientFailure(text) from exc
        text = f"SMTP server answered {exc.code} {exc.message}"
        if exc.code >= 500:
            raise PermanentFailure(text) from exc
        raise TransientFailure(text) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TransientFailure(f"SMTP server unreachable: {exc}") from exc
