"""Activity: the audit log, newest first — who changed what, when — from every front door."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from provider.admin.render import admin_page
from provider.admin.session import Admin, admin_get
from provider.context import ctx

PER_PAGE = 50


def _when(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _activity(request: Request, admin: Admin) -> Response:
    raw = request.query_params.get("page", "")
    page = int(raw) if raw.isdigit() and len(raw) < 7 else 0
    audit = ctx(request).store.audit
    events = await audit.recent(PER_PAGE, page * PER_PAGE)
    total = await audit.count()
    rows = [
        {
            "when": _when(e.at),
            "actor": e.actor,
            "action": e.action,
            "target": e.target or "",
            "details": json.dumps(e.details, sort_keys=True) if e.details else "",
        }
        for e in events
    ]
    return admin_page(
        request,
        admin,
        "admin/activity.html",
        {"events": rows, "page": page, "has_next": (page + 1) * PER_PAGE < total, "total": total},
        active="activity",
    )


activity = admin_get(_activity)
