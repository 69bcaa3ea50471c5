"""MFA transactions and per-user MFA state (failure streak, lock, preferred authenticator)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from databases import Database
from sqlalchemy import select

from provider.clock import now
from provider.db.errors import DUPLICATE_KEY
from provider.db.tables import mfa_transactions, mfa_user_state
from provider.security.secrets import new_token


@dataclass(frozen=True)
class MfaTransaction:
    id: str
    user_id: str
    client_id: str | None
    session_id: str | None
    login_tx_id: str | None
    browser_id: str | None
    created_at: int
    expires_at: int
    completed_at: int | None
    authenticator_id: str | None
    challenge: dict[str, Any] | None
    attempts: int
    # MFA API transactions (an mfa_token) only: what the password grant asked for.
    scope: str | None = None
    audience: str | None = None

    @property
    def is_api(self) -> bool:
        """Opened by the password grant (an mfa_token), not by a browser sign-in."""
        return self.browser_id is None and self.session_id is None and self.scope is not None


def _tx(row: Any) -> MfaTransaction:
    return MfaTransaction(
        id=row["id"],
        user_id=row["user_id"],
        client_id=row["client_id"],
        session_id=row["session_id"],
        login_tx_id=row["login_tx_id"],
        browser_id=row["browser_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        completed_at=row["completed_at"],
        authenticator_id=row["authenticator_id"],
        challenge=json.loads(row["challenge"]) if row["challenge"] else None,
        attempts=row["attempts"],
        scope=row["scope"],
        audience=row["audience"],
    )


class MfaStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- transactions ------------------------------------------------------------------------
    async def begin(
        self,
        user_id: str,
        *,
        ttl: int,
        client_id: str | None = None,
        session_id: str | None = None,
        login_tx_id: str | None = None,
        browser_id: str | None = None,
        tx_id: str | None = None,
        scope: str | None = None,
        audience: str | None = None,
    ) -> MfaTransaction:
        stamp = now()
        values = {
            "id": tx_id or new_token(18),
            "user_id": user_id,
            "client_id": client_id,
            "session_id": session_id,
            "login_tx_id": login_tx_id,
            "browser_id": browser_id,
            "created_at": stamp,
            "expires_at": stamp + ttl,
            "completed_at": None,
            "authenticator_id": None,
            "challenge": None,
            "attempts": 0,
            "amr": None,
            "scope": scope,
            "audience": audience,
        }
        await self._db.execute(mfa_transactions.insert().values(**values))
        return _tx(values)

    async def get(self, tx_id: str) -> MfaTransaction | None:
        """A transaction whatever its state (the MFA API tells expired from unknown)."""
        row = await self._db.fetch_one(
            select(mfa_transactions).where(mfa_transactions.c.id == tx_id)
        )
        return _tx(row) if row else None

    async def get_live(self, tx_id: str) -> MfaTransaction | None:
        if "\x00" in tx_id:  # straight from a query string; PostgreSQL refuses NUL in text
            return None
        row = await self._db.fetch_one(
            select(mfa_transactions).where(
                mfa_transactions.c.id == tx_id,
                mfa_transactions.c.completed_at.is_(None),
                mfa_transactions.c.expires_at > now(),
            )
        )
        return _tx(row) if row else None

    async def set_challenge(
        self,
        tx_id: str,
        authenticator_id: str,
        challenge: dict[str, Any] | None,
        *,
        reset_attempts: bool = True,
    ) -> None:
        """A new challenge starts a fresh attempt count (the per-user bucket is separate and
        is never reset by a new challenge)."""
        values: dict[str, Any] = {
            "authenticator_id": authenticator_id,
            "challenge": json.dumps(challenge) if challenge is not None else None,
        }
        if reset_attempts:
            values["attempts"] = 0
        await self._db.execute(
            mfa_transactions.update().where(mfa_transactions.c.id == tx_id).values(**values)
        )

    async def add_attempt(self, tx_id: str, limit: int) -> bool:
        """Count one answer to the current challenge; False once `limit` answers were given."""
        row = await self._db.fetch_one(
            mfa_transactions.update()
            .where(mfa_transactions.c.id == tx_id, mfa_transactions.c.attempts < limit)
            .values(attempts=mfa_transactions.c.attempts + 1)
            .returning(mfa_transactions.c.attempts)
        )
        return row is not None

    async def complete(self, tx_id: str, amr: list[str]) -> bool:
        """Single use: True for exactly one caller."""
        row = await self._db.fetch_one(
            mfa_transactions.update()
            .where(mfa_transactions.c.id == tx_id, mfa_transactions.c.completed_at.is_(None))
            .values(completed_at=now(), amr=json.dumps(amr))
            .returning(mfa_transactions.c.id)
        )
        return row is not None

    # -- per-user state ----------------------------------------------------------------------
    async def _ensure_state(self, user_id: str) -> None:
        exists = await self._db.fetch_val(
            select(mfa_user_state.c.user_id).where(mfa_user_state.c.user_id == user_id)
        )
        if exists:
            return
        try:
            await self._db.execute(
                mfa_user_state.insert().values(
                    user_id=user_id,
                    consecutive_failures=0,
                    locked_until=None,
                    preferred_authenticator_id=None,
                )
            )
        except DUPLICATE_KEY:  # created concurrently; the row exists now
            return

    async def locked_until(self, user_id: str) -> int | None:
        value = await self._db.fetch_val(
            select(mfa_user_state.c.locked_until).where(mfa_user_state.c.user_id == user_id)
        )
        return value if value and value > now() else None

    async def record_failure(self, user_id: str, ceiling: int, lock_seconds: int) -> int:
        """Count a failure; lock the user's MFA once the streak reaches `ceiling`."""
        await self._ensure_state(user_id)
        streak = await self._db.fetch_val(
            mfa_user_state.update()
            .where(mfa_user_state.c.user_id == user_id)
            .values(consecutive_failures=mfa_user_state.c.consecutive_failures + 1)
            .returning(mfa_user_state.c.consecutive_failures)
        )
        if streak is not None and streak >= ceiling:
            await self._db.execute(
                mfa_user_state.update()
                .where(mfa_user_state.c.user_id == user_id)
                .values(locked_until=now() + lock_seconds, consecutive_failures=0)
            )
        return int(streak or 0)

    async def reset_failures(self, user_id: str) -> None:
        await self._db.execute(
            mfa_user_state.update()
            .where(mfa_user_state.c.user_id == user_id)
            .values(consecutive_failures=0, locked_until=None)
        )

    async def preferred(self, user_id: str) -> str | None:
        return await self._db.fetch_val(
            select(mfa_user_state.c.preferred_authenticator_id).where(
                mfa_user_state.c.user_id == user_id
            )
        )

    async def set_preferred(self, user_id: str, authenticator_id: str) -> None:
        await self._ensure_state(user_id)
        await self._db.execute(
            mfa_user_state.update()
            .where(mfa_user_state.c.user_id == user_id)
            .values(preferred_authenticator_id=authenticator_id)
        )
