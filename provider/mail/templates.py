"""Email templates: built-in defaults under templates/email/, operator overrides in the database,
rendered in a sandboxed Jinja2 environment (operators' templates cannot reach Python)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from provider.db.store import Store
from provider.db.tables import email_templates
from provider.mail.headers import BadHeader, check_header

log = logging.getLogger("provider.mail")

EMAIL_DIR = Path(__file__).resolve().parent.parent.parent / "templates" / "email"
DEFAULT_SUBJECTS = {
    "verify_email": "Verify your email address",
    "mfa_oob_code": "Your verification code: {{ code }}",
    "test_message": "Test message from {{ application.name }}",
}
TEMPLATE_NAMES = tuple(DEFAULT_SUBJECTS)

MAX_REPEAT = 10_000  # `'a' * n` and `x ** n` beyond this would let a template eat memory


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with `*` and `**` bounded: Jinja's own sandbox stops attribute escapes
    but not `{{ 'a' * 10**9 }}`."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise SecurityError("exponent too large")
        if operator == "*":
            sizes = [v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)]
            repeats = [v for v in (left, right) if isinstance(v, str | list | tuple)]
            if repeats and sizes and abs(sizes[0]) * max(len(repeats[0]), 1) > MAX_REPEAT:
                raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # Method calls such as 'a'.ljust(10**9) or 'a'.center(…) grow strings as well.
        if any(_too_big(v) for v in (*args, *kwargs.values())):
            raise SecurityError("argument too large")
        return super().call(__context, __obj, *args, **kwargs)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Filters are called directly by compiled templates (not through `call`): wrap each
        # so that 'a'|center(10**9) is refused like the method call.
        self.filters = {name: _bounded(f) for name, f in self.filters.items()}


def _bounded(function: Any) -> Any:
    @functools.wraps(function)  # keeps Jinja's pass_context / pass_eval_context marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if any(_too_big(v) for v in (*args, *kwargs.values())):
            raise SecurityError("filter argument too large")
        return function(*args, **kwargs)

    return guarded


def _too_big(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_REPEAT


_html = _BoundedSandbox(autoescape=True, undefined=StrictUndefined)
_text = _BoundedSandbox(autoescape=False, undefined=StrictUndefined)


class TemplateRejected(ValueError):
    """A template failed to render, or rendered an unusable header."""


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text_body: str
    html_body: str | None
    from_address: str | None  # an override of the configured sender


def default_source(name: str, suffix: str) -> str:
    """A built-in template's source (`suffix` txt or html)."""
    return (EMAIL_DIR / f"{name}.{suffix}").read_text()


def render_sources(
    subject_source: str, text_source: str, html_source: str, context: dict[str, Any]
) -> RenderedMail:
    try:
        subject = _text.from_string(subject_source).render(context).strip()
        text_body = _text.from_string(text_source).render(context)
        html_body = _html.from_string(html_source).render(context)
        check_header(subject)
    except (TemplateError, BadHeader) as exc:
        raise TemplateRejected(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - operators' templates can fail in any way ({{ 1/0 }})
        raise TemplateRejected(f"cannot be rendered: {type(exc).__name__}") from exc
    return RenderedMail(subject, text_body, html_body, None)


async def render(store: Store, name: str, context: dict[str, Any]) -> RenderedMail:
    if name not in DEFAULT_SUBJECTS:
        raise TemplateRejected(f"unknown email template {name!r}")
    row = await store.database.fetch_one(
        select(email_templates).where(
            email_templates.c.name == name, email_templates.c.enabled.is_(True)
        )
    )
    defaults = (DEFAULT_SUBJECTS[name], default_source(name, "txt"), default_source(name, "html"))
    if row is not None:
        sources = (
            row["subject"] or defaults[0],
            row["text_body"] or defaults[1],
            row["html_body"] or defaults[2],
        )
        try:
            mail = render_sources(*sources, context)
            return RenderedMail(mail.subject, mail.text_body, mail.html_body, row["from_address"])
        except TemplateRejected as exc:
            # Saving checks templates with sample data, but real data can still trip one up:
            # the message goes out with the built-in template rather than not at all.
            log.warning("email template %s failed (%s); the built-in one was used", name, exc)
    try:
        return render_sources(*defaults, context)
    except TemplateRejected as exc:
        raise TemplateRejected(f"template {name}: {exc}") from exc
