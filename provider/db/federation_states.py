"""Round trips to upstream OpenID providers in flight: what the callback needs (nonce, PKCE
verifier, connection, login transaction), stored server-side under a keyed hash of `state`,
bound to the browser that began it, single use and short-lived."""

from __future__ import annotations

from dataclasses import dataclass

from databases import Database
from sqlalchemy import delete

from provider.clock import now
from provider.db.tables import federation_states


@dataclass(frozen=True)
class FederationState:
    connection_id: str
    login_tx_id: str | None
    nonce: str
    code_verifier_sealed: str


class FederationStateStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def save(
        self,
        state_hash: str,
        *,
        browser_id: str,
        connection_id: str,
        login_tx_id: str | None,
        nonce: str,
        code_verifier_sealed: str,
        ttl: int,
    ) -> None:
        stamp = now()
        # Expired rows are useless; dropping them here keeps the table small without a job.
        await self._db.execute(
            delete(federation_states).where(federation_states.c.expires_at < stamp - 3600)
        )
        await self._db.execute(
            federation_states.insert().values(
                state_hash=state_hash,
                browser_id=browser_id,
                connection_id=connection_id,
                login_tx_id=login_tx_id,
                nonce=nonce,
                code_verifier_sealed=code_verifier_sealed,
                created_at=stamp,
                expires_at=stamp + ttl,
                used_at=None,
            )
        )

    async def consume(self, state_hash: str, browser_id: str) -> FederationState | None:
        """Single use: the row for exactly one caller, only in the browser that began it."""
        row = await self._db.fetch_one(
            federation_states.update()
            .where(
                federation_states.c.state_hash == state_hash,
                federation_states.c.browser_id == browser_id,
                federation_states.c.used_at.is_(None),
                federation_states.c.expires_at > now(),
            )
            .values(used_at=now())
            .returning(
                federation_states.c.connection_id,
                federation_states.c.login_tx_id,
                federation_states.c.nonce,
                federation_states.c.code_verifier_sealed,
            )
        )
        if row is None:
            return None
        return FederationState(
            connection_id=row["connection_id"],
            login_tx_id=row["login_tx_id"],
            nonce=row["nonce"],
            code_verifier_sealed=row["code_verifier_sealed"],
        )
