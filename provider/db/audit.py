"""The audit log: every operator change, from the dashboard, the Management API or the CLI."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from databases import Database
from sqlalchemy import func, select

from provider.clock import now
from provider.db.tables import audit_events


@dataclass(frozen=True)
class AuditEvent:
    id: str
    at: int
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "date": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


class AuditStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(
        self, actor: str, action: str, target: str | None, details: dict[str, Any] | None = None
    ) -> None:
        await self._db.execute(
            audit_events.insert().values(
                # Time-ordered ids: events of the same second still list in the order made.
                id=f"evt_{time.time_ns():020d}{secrets.token_hex(4)}",
                at=now(),
                actor=actor[:200],
                action=action[:100],
                target=target[:320] if target else None,
                details=json.dumps(details or {}, sort_keys=True),
            )
        )

    async def recent(self, limit: int = 50, offset: int = 0) -> list[AuditEvent]:
        rows = await self._db.fetch_all(
            select(audit_events)
            .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [
            AuditEvent(
                r["id"],
                r["at"],
                r["actor"],
                r["action"],
                r["target"],
                json.loads(r["details"] or "{}"),
            )
            for r in rows
        ]

    async def count(self) -> int:
        return int(await self._db.fetch_val(select(func.count()).select_from(audit_events)) or 0)
