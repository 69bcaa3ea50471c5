"""Dashboard sessions: rows of the `sessions` table whose ids start with `adm_`.

They are never referenced by the hosted pages' session cookie (the dashboard's cookie is signed
for another purpose), so they cannot be used to sign in anywhere else. `expires_at` is the idle
deadline, pushed forward on each request but never past `created_at` + the absolute lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

from databases import Database
from sqlalchemy import select

from provider.clock import now
from provider.db.records import dumps, loads_list
from provider.db.tables import sessions
from provider.security.secrets import new_token

PREFIX = "adm_"


@dataclass(frozen=True)
class AdminSession:
    id: str
    user_id: str
    amr: list[str]
    created_at: int
    expires_at: int


class AdminSessionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, user_id: str, amr: list[str], acr: str | None, idle: int) -> str:
        stamp = now()
        session_id = PREFIX + new_token()
        await self._db.execute(
            sessions.insert().values(
                id=session_id,
                user_id=user_id,
                auth_time=stamp,
                amr=dumps(amr),
                acr=acr,
                created_at=stamp,
                expires_at=stamp + idle,
                ended_at=None,
            )
        )
        return session_id

    async def touch(self, session_id: str, *, idle: int, lifetime: int) -> AdminSession | None:
        """The live session, its idle deadline moved on; None if ended, idle or too old."""
        if not session_id.startswith(PREFIX):
            return None
        stamp = now()
        row = await self._db.fetch_one(
            select(sessions).where(
                sessions.c.id == session_id,
                sessions.c.ended_at.is_(None),
                sessions.c.expires_at > stamp,
                sessions.c.created_at > stamp - lifetime,
            )
        )
        if row is None:
            return None
        deadline = min(stamp + idle, row["created_at"] + lifetime)
        if deadline != row["expires_at"]:
            await self._db.execute(
                sessions.update().where(sessions.c.id == session_id).values(expires_at=deadline)
            )
        return AdminSession(
            row["id"], row["user_id"], loads_list(row["amr"]), row["created_at"], deadline
        )

    async def end(self, session_id: str) -> None:
        await self._db.execute(
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
            .values(ended_at=now())
        )
