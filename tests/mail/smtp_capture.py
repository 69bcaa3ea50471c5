"""A real SMTP server for tests (aiosmtpd on loopback) that records what it receives.

`SmtpCapture(port)` starts listening on 127.0.0.1:`port`; envelopes arrive in `.messages`
(thread-safe list of `Received`). Optional knobs: `refuse` (recipient addresses answered with
550 at RCPT) and `credentials` (require AUTH with this (user, password) pair).
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
import warnings
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# Tests authenticate over plain TCP on loopback on purpose.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, capture: SmtpCapture) -> None:
        self._capture = capture

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.lower() in self._capture.refuse:
            with self._capture.lock:
                self._capture.refused.append(address)
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
        with self._capture.lock:
            self._capture.messages.append(received)
        return "250 Message accepted for delivery"


class SmtpCapture:
    def __init__(
        self,
        port: int,
        *,
        refuse: tuple[str, ...] = (),
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.port = port
        self.refuse = {a.lower() for a in refuse}
        self.refused: list[str] = []
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        options: dict[str, Any] = {}
        if credentials:
            user, password = credentials

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                    user.encode(),
                    password.encode(),
                )
                # handled=False: aiosmtpd itself answers 535 on failure
                return AuthResult(success=ok, handled=False)

            options = dict(auth_required=True, auth_require_tls=False, authenticator=authenticator)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=port, **options)

    def start(self) -> SmtpCapture:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, predicate: Any, timeout: float = 60) -> list[Received]:
        """Wait until `predicate(snapshot)` holds; return the snapshot (AssertionError if never)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.snapshot()
            if predicate(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"SMTP capture: condition not met in {timeout} s; got {len(found)}"
                )
            time.sleep(0.2)
