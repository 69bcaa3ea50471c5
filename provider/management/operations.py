"""The operations, built once per application context for every front door."""

from __future__ import annotations

from dataclasses import dataclass

from provider.context import AppContext
from provider.management.clients import ClientOperations
from provider.management.connections import ConnectionOperations
from provider.management.email import EmailOperations
from provider.management.mfa import MfaOperations
from provider.management.users import UserOperations


@dataclass(frozen=True)
class Operations:
    clients: ClientOperations
    users: UserOperations
    mfa: MfaOperations
    email: EmailOperations
    connections: ConnectionOperations


def operations(app: AppContext) -> Operations:
    return Operations(
        clients=ClientOperations(app.store),
        users=UserOperations(app.store, app.mfa, app.settings, app.mailer),
        mfa=MfaOperations(app.store, app.mfa),
        email=EmailOperations(app.store, app.mailer),
        connections=ConnectionOperations(app.store),
    )
