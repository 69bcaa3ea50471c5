"""Branding › Email provider (SMTP form — the password is write-only —, a test message, the
last delivery errors) and Email templates (edit, preview with sample data, reset)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from provider.admin.render import admin_page
from provider.admin.session import Admin, Form, admin_get, admin_post, redirect_with_notice
from provider.context import ctx
from provider.mail.provider_config import TLS_MODES
from provider.management.email import EDITABLE_TEMPLATES
from provider.management.errors import OperationError
from provider.management.operations import operations

TEMPLATE_TITLES = {
    "mfa_oob_code": "Sign-in code (email MFA)",
    "verify_email": "Verify email address",
}


# -- email provider ---------------------------------------------------------------------------
async def _render_provider(
    request: Request,
    admin: Admin,
    *,
    error: str | None = None,
    status_code: int = 200,
    draft: dict[str, Any] | None = None,
) -> Response:
    ops = operations(ctx(request)).email
    current = await ops.provider()
    values = draft or {
        "enabled": current.enabled if current else True,
        "host": current.host if current else "",
        "port": str(current.port) if current else "587",
        "user": (current.user or "") if current else "",
        "tls": current.tls if current else "starttls",
        "from": (current.default_from_address or "") if current else "",
    }
    return admin_page(
        request,
        admin,
        "admin/email_provider.html",
        {
            "provider": current,
            "values": values,
            "tls_modes": TLS_MODES,
            "failures": await ops.recent_failures(),
            "recent": await ctx(request).store.outbox.recent(10),
        },
        active="email",
        error=error,
        status_code=status_code,
    )


async def _provider_page(request: Request, admin: Admin) -> Response:
    return await _render_provider(request, admin)


def _provider_values(form: Form) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the Auth0-shaped values for the operation, the form as typed for showing it again)."""
    draft = {
        "enabled": form.get("enabled") == "true",
        "host": form.get("host").strip(),
        "port": form.get("port").strip(),
        "user": form.get("user").strip(),
        "tls": form.get("tls"),
        "from": form.get("from").strip(),
    }
    if not draft["port"].isdigit() or len(draft["port"]) > 5:
        raise OperationError("port: a number between 1 and 65535")
    credentials: dict[str, Any] = {
        "smtp_host": draft["host"],
        "smtp_port": int(draft["port"]),
        "smtp_user": draft["user"] or None,
        "smtp_tls": draft["tls"],
    }
    if form.get("password"):  # empty: keep the stored password
        credentials["smtp_pass"] = form.get("password")
    values = {
        "enabled": draft["enabled"],
        "default_from_address": draft["from"] or None,
        "credentials": credentials,
    }
    return values, draft


async def _save_provider(request: Request, admin: Admin, form: Form) -> Response:
    ops = operations(ctx(request)).email
    draft: dict[str, Any] | None = None
    try:
        values, draft = _provider_values(form)
        await ops.set_provider(values, admin.actor, partial=False)
    except OperationError as exc:
        return await _render_provider(
            request, admin, error=f"Not saved: {exc}", status_code=exc.status, draft=draft
        )
    return redirect_with_notice(request, "/admin/email", "Email provider saved.")


async def _test_message(request: Request, admin: Admin, form: Form) -> Response:
    to = form.get("to").strip()
    try:
        await operations(ctx(request)).email.send_test(to, admin.actor)
    except OperationError as exc:
        return await _render_provider(
            request, admin, error=f"Test email not sent: {exc}", status_code=exc.status
        )
    return redirect_with_notice(
        request, "/admin/email", f"Test email queued for {to}; its delivery shows below."
    )


async def _check(request: Request, admin: Admin, form: Form) -> Response:
    try:
        result = await operations(ctx(request)).email.check_provider(None)
    except OperationError as exc:
        return await _render_provider(request, admin, error=str(exc), status_code=exc.status)
    if not result.ok:
        return await _render_provider(request, admin, error=f"Check failed: {result.message}")
    return redirect_with_notice(request, "/admin/email", f"Check passed: {result.message}.")


async def _delete_provider(request: Request, admin: Admin, form: Form) -> Response:
    try:
        await operations(ctx(request)).email.delete_provider(admin.actor)
    except OperationError as exc:
        return await _render_provider(request, admin, error=str(exc), status_code=exc.status)
    return redirect_with_notice(request, "/admin/email", "Email provider removed.")


# -- templates --------------------------------------------------------------------------------
async def _templates_page(request: Request, admin: Admin) -> Response:
    ops = operations(ctx(request)).email
    rows = [
        (await ops.template(name), TEMPLATE_TITLES.get(name, name)) for name in EDITABLE_TEMPLATES
    ]
    return admin_page(
        request, admin, "admin/templates.html", {"templates": rows}, active="templates"
    )


async def _render_template(
    request: Request,
    admin: Admin,
    name: str,
    *,
    draft: dict[str, Any] | None = None,
    preview: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    ops = operations(ctx(request)).email
    try:
        current = await ops.template(name)
    except OperationError as exc:
        return admin_page(
            request,
            admin,
            "admin/templates.html",
            {"templates": []},
            active="templates",
            error=str(exc),
            status_code=exc.status,
        )
    values = draft or {
        "subject": current.subject,
        "body": current.body,
        "text": current.text,
        "from": current.from_address or "",
        "enabled": current.enabled,
    }
    return admin_page(
        request,
        admin,
        "admin/template_edit.html",
        {
            "template": current,
            "title": TEMPLATE_TITLES.get(name, name),
            "values": values,
            "preview": preview,
        },
        active="templates",
        error=error,
        status_code=status_code,
    )


async def _template_page(request: Request, admin: Admin) -> Response:
    return await _render_template(request, admin, request.path_params["name"])


async def _save_template(request: Request, admin: Admin, form: Form) -> Response:
    name = request.path_params["name"]
    ops = operations(ctx(request)).email
    draft = {
        "subject": form.get("subject"),
        "body": form.get("body").replace("\r\n", "\n"),
        "text": form.get("text").replace("\r\n", "\n"),
        "from": form.get("from").strip(),
        "enabled": form.get("enabled", "true") == "true",
    }
    try:
        if form.get("action") == "preview":
            shown = await ops.preview(name, draft)
            return await _render_template(request, admin, name, draft=draft, preview=shown)
        await ops.update_template(name, {**draft, "from": draft["from"] or None}, admin.actor)
    except OperationError as exc:
        return await _render_template(
            request, admin, name, draft=draft, error=f"Not saved: {exc}", status_code=exc.status
        )
    return redirect_with_notice(request, f"/admin/templates/{name}", "Template saved.")


async def _reset_template(request: Request, admin: Admin, form: Form) -> Response:
    name = request.path_params["name"]
    try:
        await operations(ctx(request)).email.reset_template(name, admin.actor)
    except OperationError as exc:
        return await _render_template(request, admin, name, error=str(exc), status_code=exc.status)
    return redirect_with_notice(request, f"/admin/templates/{name}", "Template reset to default.")


provider_page = admin_get(_provider_page)
save_provider = admin_post(_save_provider)
test_message = admin_post(_test_message)
check_provider = admin_post(_check)
delete_provider = admin_post(_delete_provider)
templates_page = admin_get(_templates_page)
template_page = admin_get(_template_page)
save_template = admin_post(_save_template)
reset_template = admin_post(_reset_template)
