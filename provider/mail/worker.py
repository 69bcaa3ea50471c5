"""The delivery worker: one per server process. It claims due messages from the shared outbox
with a lease (so replicas never send one twice), sends them, and reschedules failures with
exponential backoff. Nothing is lost while SMTP is down: messages wait in the outbox."""

from __future__ import annotations

import asyncio
import logging

from provider.db.errors import UNAVAILABLE
from provider.db.outbox import OutboxMessage
from provider.db.store import Store
from provider.mail.provider_config import EmailProviderConfig
from provider.mail.sender import PermanentFailure, TransientFailure, send_smtp
from provider.settings import Settings

log = logging.getLogger("provider.mail")

LEASE_SECONDS = 600  # longer than any SMTP conversation (timeout: at most 300 s)
POLL_SECONDS = 1.0
BATCH = 20
MAX_BACKOFF_SECONDS = 15 * 60
TEST_PROVIDER_BURST = 10  # the built-in test provider: 10 messages a minute
TEST_PROVIDER_INTERVAL_MS = 6_000


def backoff(attempts: int) -> int:
    """5 s, 10 s, 20 s … capped at 15 minutes."""
    return min(MAX_BACKOFF_SECONDS, 5 * 2 ** min(attempts, 10))


class DeliveryWorker:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._providers = EmailProviderConfig(store, store.box, settings)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-delivery")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def wake(self) -> None:
        """A message was queued in this process: look now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except UNAVAILABLE as exc:
                log.warning("outbox unavailable, will retry: %s", exc)
            except Exception:  # noqa: BLE001 - the worker must outlive any single failure
                log.exception("mail delivery loop failed; continuing")
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    async def deliver_due(self) -> int:
        sent = 0
        for message_id in await self._store.outbox.due(BATCH):
            message = await self._store.outbox.claim(message_id, LEASE_SECONDS)
            if message is not None:
                sent += await self._deliver(message)
        return sent

    async def _deliver(self, message: OutboxMessage) -> int:
        outbox = self._store.outbox
        if message.provider == "test":
            # Kept in the database for the developer to read; rate-limited like a hosted
            # service's test provider. Over the limit a message waits, it is never dropped.
            if not await self._store.rate_limits.charge(
                "mail:test-provider", TEST_PROVIDER_BURST, TEST_PROVIDER_INTERVAL_MS
            ):
                await outbox.mark_retry(message.id, "test provider: 10 messages a minute", 6)
                return 0
            await outbox.mark_sent(message.id)
            return 1
        smtp = await self._providers.current_smtp()
        if smtp is None:
            await outbox.mark_retry(message.id, "no SMTP server is configured", 60)
            return 0
        try:
            await send_smtp(smtp, message)
        except PermanentFailure as exc:
            log.warning("message %s refused for good: %s", message.id, exc)
            await outbox.mark_failed(message.id, str(exc))
            return 0
        except TransientFailure as exc:
            delay = backoff(message.attempts)
            log.warning("message %s not sent (%s); retrying in %s s", message.id, exc, delay)
            await outbox.mark_retry(message.id, str(exc), delay)
            return 0
        await outbox.mark_sent(message.id)
        return 1
