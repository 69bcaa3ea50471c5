"""Browser sessions, login transactions and remembered consents: the server-side state behind
the hosted pages. Cookies carry only signed ids of these rows, so ending a row ends the cookie."""

from __future__ import annotations

import json
from typing import Any

from databases import Database
from sqlalchemy import delete, select

from provider.clock import now
from provider.db.database import write_transaction
from provider.db.records import LoginTransaction, Session, dumps, loads_list
from provider.db.tables import consents, login_transactions, sessions
from provider.security.secrets import new_token


class SessionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- sessions ----------------------------------------------------------------------------
    async def create_session(
        self, user_id: str, *, amr: list[str], acr: str | None, ttl: int
    ) -> Session:
        stamp = now()
        session = Session(
            id=new_token(),
            user_id=user_id,
            auth_time=stamp,
            amr=amr,
            acr=acr,
            expires_at=stamp + ttl,
        )
        await self._db.execute(
            sessions.insert().values(
                id=session.id,
                user_id=user_id,
                auth_time=stamp,
                amr=dumps(amr),
                acr=acr,
                created_at=stamp,
                expires_at=session.expires_at,
                ended_at=None,
            )
        )
        return session

    async def get_session(self, session_id: str) -> Session | None:
        row = await self._db.fetch_one(
            select(sessions).where(
                sessions.c.id == session_id,
                sessions.c.ended_at.is_(None),
                sessions.c.expires_at > now(),
            )
        )
        if not row:
            return None
        return Session(
            id=row["id"],
            user_id=row["user_id"],
            auth_time=row["auth_time"],
            amr=loads_list(row["amr"]),
            acr=row["acr"],
            expires_at=row["expires_at"],
        )

    async def upgrade_session(self, session_id: str, *, amr: list[str], acr: str | None) -> None:
        """Record a completed second factor on the session (step-up)."""
        await self._db.execute(
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
            .values(amr=dumps(amr), acr=acr, auth_time=now())
        )

    async def end_session(self, session_id: str) -> None:
        await self._db.execute(
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
            .values(ended_at=now())
        )

    async def end_all_for_user(self, user_id: str) -> None:
        await self._db.execute(
            sessions.update()
            .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
            .values(ended_at=now())
        )

    # -- login transactions ------------------------------------------------------------------
    async def begin_transaction(
        self, browser_id: str, client_id: str, params: dict[str, str], ttl: int
    ) -> LoginTransaction:
        stamp = now()
        tx = LoginTransaction(
            id=new_token(18),
            browser_id=browser_id,
            client_id=client_id,
            params=params,
            created_at=stamp,
            expires_at=stamp + ttl,
            authenticated_at=None,
            consented_at=None,
            completed_at=None,
        )
        await self._db.execute(
            login_transactions.insert().values(
                id=tx.id,
                browser_id=browser_id,
                client_id=client_id,
                params=json.dumps(params),
                created_at=stamp,
                expires_at=tx.expires_at,
            )
        )
        return tx

    async def get_transaction(self, tx_id: str, browser_id: str) -> LoginTransaction | None:
        """A live transaction begun by this browser, else None."""
        if "\x00" in tx_id:  # straight from a query string; PostgreSQL refuses NUL in text
            return None
        row = await self._db.fetch_one(
            select(login_transactions).where(
                login_transactions.c.id == tx_id,
                login_transactions.c.browser_id == browser_id,
                login_transactions.c.completed_at.is_(None),
                login_transactions.c.expires_at > now(),
            )
        )
        return _transaction(row) if row else None

    async def mark_authenticated(self, tx_id: str) -> None:
        await self._db.execute(
            login_transactions.update()
            .where(login_transactions.c.id == tx_id)
            .values(authenticated_at=now())
        )

    async def mark_consented(self, tx_id: str) -> None:
        await self._db.execute(
            login_transactions.update()
            .where(login_transactions.c.id == tx_id)
            .values(consented_at=now())
        )

    async def complete_transaction(self, tx_id: str) -> bool:
        """Single use: True for exactly one caller."""
        row = await self._db.fetch_one(
            login_transactions.update()
            .where(login_transactions.c.id == tx_id, login_transactions.c.completed_at.is_(None))
            .values(completed_at=now())
            .returning(login_transactions.c.id)
        )
        return row is not None

    # -- consents ----------------------------------------------------------------------------
    async def granted_scopes(self, user_id: str, client_id: str) -> set[str]:
        row = await self._db.fetch_one(
            select(consents.c.scopes).where(
                consents.c.user_id == user_id, consents.c.client_id == client_id
            )
        )
        return set(loads_list(row["scopes"])) if row else set()

    async def grant_consent(self, user_id: str, client_id: str, scopes: set[str]) -> None:
        async with write_transaction(self._db):
            merged = await self.granted_scopes(user_id, client_id) | scopes
            await self._db.execute(
                delete(consents).where(
                    consents.c.user_id == user_id, consents.c.client_id == client_id
                )
            )
            await self._db.execute(
                consents.insert().values(
                    user_id=user_id,
                    client_id=client_id,
                    scopes=dumps(sorted(merged)),
                    granted_at=now(),
                )
            )


def _transaction(row: Any) -> LoginTransaction:
    return LoginTransaction(
        id=row["id"],
        browser_id=row["browser_id"],
        client_id=row["client_id"],
        params=json.loads(row["params"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        authenticated_at=row["authenticated_at"],
        consented_at=row["consented_at"],
        completed_at=row["completed_at"],
    )
