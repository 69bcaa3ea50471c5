"""The built-in test mail provider's mailbox page (only served when no SMTP is configured)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from provider.context import ctx
from provider.login.browser import read_browser
from provider.login.render import page


async def mailbox(request: Request) -> Response:
    app = ctx(request)
    messages = await app.store.outbox.recent(limit=50, provider="test")
    return page(request, read_browser(request), "pages/dev_mailbox.html", {"messages": messages})
