"""Security › Multi-factor Auth: a toggle per installed factor, the MFA policy and per-factor
settings. The dependent-factor rule is the engine's; the page only explains it in advance."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from provider.admin.render import admin_page
from provider.admin.session import Admin, Form, admin_get, admin_post, redirect_with_notice
from provider.context import ctx
from provider.management.errors import OperationError
from provider.management.mfa import FactorState
from provider.management.operations import operations

# Settings whose values might be secrets are never shown or edited here.
HIDDEN_SETTING = re.compile(r"secret|pass|pin|key|token", re.IGNORECASE)


def _setting_rows(factor: FactorState) -> list[dict[str, Any]]:
    rows = []
    for key, value in sorted(factor.settings.items()):
        if key == "enabled":
            continue
        if HIDDEN_SETTING.search(key):
            rows.append({"key": key, "kind": "hidden", "value": ""})
        elif isinstance(value, bool):
            rows.append({"key": key, "kind": "bool", "value": value})
        elif isinstance(value, int):
            rows.append({"key": key, "kind": "int", "value": value})
        elif isinstance(value, str):
            rows.append({"key": key, "kind": "str", "value": value})
        else:
            rows.append({"key": key, "kind": "fixed", "value": json.dumps(value)})
    return rows


async def _render(
    request: Request, admin: Admin, error: str | None = None, status_code: int = 200
) -> Response:
    ops = operations(ctx(request)).mfa
    factors = await ops.factors()
    return admin_page(
        request,
        admin,
        "admin/mfa.html",
        {
            "factors": [(f, _setting_rows(f)) for f in factors],
            "policy": await ops.policy(),
        },
        active="mfa",
        error=error,
        status_code=status_code,
    )


async def _page(request: Request, admin: Admin) -> Response:
    return await _render(request, admin)


async def _toggle(request: Request, admin: Admin, form: Form) -> Response:
    name = request.path_params["name"]
    enabled = form.get("enabled") == "true"
    try:
        await operations(ctx(request)).mfa.set_enabled(name, enabled, admin.actor)
    except OperationError as exc:
        return await _render(request, admin, f"Not changed: {exc}", exc.status)
    state = "enabled" if enabled else "disabled"
    return redirect_with_notice(request, "/admin/mfa", f"{name} is now {state}.")


async def _policy(request: Request, admin: Admin, form: Form) -> Response:
    try:
        await operations(ctx(request)).mfa.set_policy(form.get("policy"), admin.actor)
    except OperationError as exc:
        return await _render(request, admin, f"Not changed: {exc}", exc.status)
    return redirect_with_notice(request, "/admin/mfa", f"MFA policy: {form.get('policy')}.")


def _parse(rows: list[dict[str, Any]], form: Form) -> dict[str, Any]:
    """Only the settings that changed, typed as the current values are; raises OperationError."""
    changes: dict[str, Any] = {}
    for row in rows:
        key, kind = row["key"], row["kind"]
        if kind in ("hidden", "fixed") or key not in form.fields:
            continue
        raw = form.get(key).strip()
        value: Any
        if kind == "bool":
            if raw not in ("true", "false"):
                raise OperationError(f"{key}: choose on or off")
            value = raw == "true"
        elif kind == "int":
            if not re.fullmatch(r"-?\d{1,9}", raw):
                raise OperationError(f"{key}: a whole number")
            value = int(raw)
        else:
            value = raw
        if value != row["value"]:
            changes[key] = value
    return changes


async def _settings(request: Request, admin: Admin, form: Form) -> Response:
    name = request.path_params["name"]
    ops = operations(ctx(request)).mfa
    factor = next((f for f in await ops.factors() if f.name == name), None)
    if factor is None:
        return await _render(request, admin, f"No installed factor is named {name!r}.", 404)
    try:
        changes = _parse(_setting_rows(factor), form)
        if changes:
            await ops.set_settings(name, changes, admin.actor)
    except OperationError as exc:
        return await _render(request, admin, f"Settings not saved: {exc}", exc.status)
    notice = f"{factor.display_name} settings saved." if changes else "Nothing changed."
    return redirect_with_notice(request, "/admin/mfa", notice)


page = admin_get(_page)
toggle = admin_post(_toggle)
policy = admin_post(_policy)
settings = admin_post(_settings)
