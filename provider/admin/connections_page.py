"""Connections (upstream OpenID providers): list, add (with the Google preset), change the
client credentials, scopes and switches, turn off, delete. The client secret is write-only:
the page says whether one is set, never what it is."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from provider.admin.render import admin_page
from provider.admin.session import Admin, Form, admin_get, admin_post, redirect_with_notice
from provider.context import ctx
from provider.db.connections import Connection
from provider.federation.pages import CALLBACK_PATH
from provider.federation.presets import PRESETS
from provider.management.connections import ConnectionSpec
from provider.management.errors import OperationError
from provider.management.operations import operations


def _scopes(text: str) -> list[str]:
    return [s for s in text.replace(",", " ").split() if s]


def _values(connection: Connection | None, form: Form | None = None) -> dict[str, Any]:
    if form is not None:
        return {
            "name": form.get("name"),
            "preset": form.get("preset"),
            "issuer": form.get("issuer"),
            "display_name": form.get("display_name"),
            "client_id": form.get("client_id"),
            "scopes": form.get("scopes"),
            "trust_email_verified": form.get("trust_email_verified") == "true",
            "allow_linking": form.get("allow_linking") == "true",
            "enabled": form.get("enabled") == "true",  # an unticked box is not sent
        }
    if connection is None:
        return {"name": "", "preset": "", "issuer": "", "display_name": "", "client_id": "",
                "scopes": "openid email profile", "trust_email_verified": False,
                "allow_linking": False, "enabled": True}  # fmt: skip
    return {
        "name": connection.name,
        "preset": "",
        "issuer": connection.issuer,
        "display_name": connection.display_name,
        "client_id": connection.client_id,
        "scopes": " ".join(connection.scopes),
        "trust_email_verified": connection.trust_email_verified,
        "allow_linking": connection.allow_linking,
        "enabled": connection.enabled,
    }


def _form_page(
    request: Request,
    admin: Admin,
    connection: Connection | None,
    values: dict[str, Any],
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return admin_page(
        request,
        admin,
        "admin/connection.html",
        {
            "connection": connection,
            "values": values,
            "presets": sorted(PRESETS),
            "callback_url": ctx(request).settings.url(CALLBACK_PATH),
        },
        active="connections",
        error=error,
        status_code=status_code,
    )


async def _list(request: Request, admin: Admin) -> Response:
    found = await operations(ctx(request)).connections.list()
    return admin_page(
        request,
        admin,
        "admin/connections.html",
        {"connections": found, "callback_url": ctx(request).settings.url(CALLBACK_PATH)},
        active="connections",
    )


async def _new(request: Request, admin: Admin) -> Response:
    return _form_page(request, admin, None, _values(None))


async def _create(request: Request, admin: Admin, form: Form) -> Response:
    values = _values(None, form)
    spec = ConnectionSpec(
        name=values["name"].strip(),
        client_id=values["client_id"],
        client_secret=form.get("client_secret"),
        issuer=values["issuer"].strip() or None,
        scopes=_scopes(values["scopes"]),
        display_name=values["display_name"].strip() or None,
        # The preset decides unless the operator ticked the box.
        trust_email_verified=True if values["trust_email_verified"] else None,
        allow_linking=values["allow_linking"],
        preset=values["preset"] or None,
    )
    try:
        created = await operations(ctx(request)).connections.create(spec, admin.actor)
    except OperationError as exc:
        return _form_page(
            request, admin, None, values, error=f"Not created: {exc}", status_code=exc.status
        )
    return redirect_with_notice(
        request,
        f"/admin/connections/{created.id}",
        "Connection added. Register the callback URL at the upstream provider.",
    )


async def _edit(request: Request, admin: Admin) -> Response:
    try:
        found = await operations(ctx(request)).connections.get(request.path_params["id"])
    except OperationError as exc:
        return redirect_with_notice(request, "/admin/connections", str(exc))
    return _form_page(request, admin, found, _values(found))


async def _update(request: Request, admin: Admin, form: Form) -> Response:
    ops = operations(ctx(request)).connections
    connection_id = request.path_params["id"]
    values = _values(None, form)
    changes: dict[str, Any] = {
        "display_name": values["display_name"].strip(),
        "client_id": values["client_id"],
        "scopes": _scopes(values["scopes"]),
        "trust_email_verified": values["trust_email_verified"],
        "allow_linking": values["allow_linking"],
        "enabled": values["enabled"],
    }
    if form.get("client_secret"):  # empty: keep the stored one
        changes["client_secret"] = form.get("client_secret")
    try:
        await ops.update(connection_id, changes, admin.actor)
    except OperationError as exc:
        try:
            current = await ops.get(connection_id)
        except OperationError:
            return redirect_with_notice(request, "/admin/connections", str(exc))
        values["name"], values["issuer"] = current.name, current.issuer
        return _form_page(
            request, admin, current, values, error=f"Not saved: {exc}", status_code=exc.status
        )
    return redirect_with_notice(request, f"/admin/connections/{connection_id}", "Connection saved.")


async def _delete(request: Request, admin: Admin, form: Form) -> Response:
    try:
        await operations(ctx(request)).connections.delete(request.path_params["id"], admin.actor)
    except OperationError as exc:
        return redirect_with_notice(request, "/admin/connections", f"Not deleted: {exc}")
    return redirect_with_notice(request, "/admin/connections", "Connection deleted.")


connections = admin_get(_list)
new = admin_get(_new)
create = admin_post(_create)
edit = admin_get(_edit)
update = admin_post(_update)
delete = admin_post(_delete)
