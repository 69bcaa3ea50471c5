"""The mail outbox: queued messages, claimed by one worker at a time with a lease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from databases import Database
from sqlalchemy import or_, select

from provider.clock import now
from provider.db.tables import mail_outbox
from provider.security.secrets import new_id


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    template: str | None
    from_address: str
    to_address: str
    subject: str
    text_body: str
    html_body: str | None
    provider: str
    status: str
    attempts: int
    created_at: int
    send_after: int
    sent_at: int | None
    last_error: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to_address,
            "subject": self.subject,
            "template": self.template,
            "provider": self.provider,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "last_error": self.last_error,
        }


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(**{k: row[k] for k in OutboxMessage.__dataclass_fields__})


class OutboxStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(
        self,
        *,
        template: str | None,
        from_address: str,
        to_address: str,
        subject: str,
        text_body: str,
        html_body: str | None,
        provider: str,
    ) -> str:
        message_id = new_id("msg")
        stamp = now()
        await self._db.execute(
            mail_outbox.insert().values(
                id=message_id,
                template=template,
                from_address=from_address,
                to_address=to_address,
                subject=subject,
                text_body=text_body,
                html_body=html_body,
                provider=provider,
                status="pending",
                attempts=0,
                created_at=stamp,
                send_after=stamp,
                claimed_until=None,
                sent_at=None,
                last_error=None,
            )
        )
        return message_id

    async def due(self, limit: int) -> list[str]:
        stamp = now()
        rows = await self._db.fetch_all(
            select(mail_outbox.c.id)
            .where(
                mail_outbox.c.status == "pending",
                mail_outbox.c.send_after <= stamp,
                or_(mail_outbox.c.claimed_until.is_(None), mail_outbox.c.claimed_until < stamp),
            )
            .order_by(mail_outbox.c.send_after, mail_outbox.c.created_at)
            .limit(limit)
        )
        return [r["id"] for r in rows]

    async def claim(self, message_id: str, lease_seconds: int) -> OutboxMessage | None:
        """Take a due message for `lease_seconds`; None if another worker has it (or sent it)."""
        stamp = now()
        row = await self._db.fetch_one(
            mail_outbox.update()
            .where(
                mail_outbox.c.id == message_id,
                mail_outbox.c.status == "pending",
                or_(mail_outbox.c.claimed_until.is_(None), mail_outbox.c.claimed_until < stamp),
            )
            .values(claimed_until=stamp + lease_seconds)
            .returning(*mail_outbox.c)
        )
        return _message(row) if row else None

    async def mark_sent(self, message_id: str) -> None:
        await self._db.execute(
            mail_outbox.update()
            .where(mail_outbox.c.id == message_id)
            .values(
                status="sent",
                sent_at=now(),
                claimed_until=None,
                attempts=mail_outbox.c.attempts + 1,
                last_error=None,
            )
        )

    async def mark_retry(self, message_id: str, error: str, delay: int) -> None:
        await self._db.execute(
            mail_outbox.update()
            .where(mail_outbox.c.id == message_id)
            .values(
                send_after=now() + delay,
                claimed_until=None,
                last_error=error[:2000],
                attempts=mail_outbox.c.attempts + 1,
            )
        )

    async def mark_failed(self, message_id: str, error: str) -> None:
        await self._db.execute(
            mail_outbox.update()
            .where(mail_outbox.c.id == message_id)
            .values(
                status="failed",
                claimed_until=None,
                last_error=error[:2000],
                attempts=mail_outbox.c.attempts + 1,
            )
        )

    async def delivery_troubled(self, older_than: int = 20) -> bool:
        """Is mail waiting: a pending message that failed, or older than `older_than` s?"""
        stamp = now()
        row = await self._db.fetch_one(
            select(mail_outbox.c.id)
            .where(
                mail_outbox.c.status == "pending",
                or_(
                    mail_outbox.c.last_error.is_not(None),
                    mail_outbox.c.created_at < stamp - older_than,
                ),
            )
            .limit(1)
        )
        return row is not None

    async def get(self, message_id: str) -> OutboxMessage | None:
        row = await self._db.fetch_one(select(mail_outbox).where(mail_outbox.c.id == message_id))
        return _message(row) if row else None

    async def recent(self, limit: int = 50, provider: str | None = None) -> list[OutboxMessage]:
        query = select(mail_outbox)
        if provider:
            query = query.where(mail_outbox.c.provider == provider)
        rows = await self._db.fetch_all(
            query.order_by(mail_outbox.c.created_at.desc(), mail_outbox.c.id).limit(limit)
        )
        return [_message(r) for r in rows]
