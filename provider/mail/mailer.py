"""Queueing mail: render a template and write the message to the outbox. Callers do this inside
the transaction that changes the state the message is about, so both happen or neither does."""

from __future__ import annotations

from typing import Any

from provider.db.store import Store
from provider.mail.headers import check_address
from provider.mail.provider_config import EmailProviderConfig
from provider.mail.templates import render
from provider.mail.worker import DeliveryWorker
from provider.settings import Settings


class Mailer:
    def __init__(self, store: Store, settings: Settings, worker: DeliveryWorker | None) -> None:
        self._store = store
        self._settings = settings
        self._worker = worker
        self.providers = EmailProviderConfig(store, store.box, settings)

    @property
    def service_name(self) -> str:
        return self._settings.service_name

    async def provider(self) -> str:
        return "smtp" if await self.providers.current_smtp() else "test"

    async def enqueue(self, template: str, to: str, context: dict[str, Any]) -> str:
        check_address(to)
        full = {"application": {"name": self._settings.service_name}, **context}
        mail = await render(self._store, template, full)
        sender = check_address(mail.from_address or await self.providers.from_address())
        message_id = await self._store.outbox.add(
            template=template,
            from_address=sender,
            to_address=to,
            subject=mail.subject,
            text_body=mail.text_body,
            html_body=mail.html_body,
            provider=await self.provider(),
        )
        if self._worker:
            self._worker.wake()
        return message_id
