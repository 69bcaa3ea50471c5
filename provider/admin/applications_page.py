"""Applications (OAuth clients): list, create, edit redirect URIs / grant types / logout URLs,
rotate the secret, delete. A secret is shown once, on the page answering the create or rotate,
and never again (it is only stored hashed)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from provider.admin.render import admin_page
from provider.admin.session import Admin, Form, admin_get, admin_post, redirect_with_notice
from provider.bootstrap import ADMIN_CLIENT_ID
from provider.context import ctx
from provider.db.records import ClientRecord
from provider.management.clients import GRANT_TYPES, ClientSpec
from provider.management.errors import OperationError
from provider.management.operations import operations

LOCKED = "The dashboard's own sign-in client is managed by provider and cannot be changed here."


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def _draft(form: Form) -> dict[str, Any]:
    return {
        "name": form.get("name"),
        "kind": form.get("kind", "confidential"),
        "first_party": form.get("first_party") == "true",
        "redirect_uris": form.get("redirect_uris"),
        "logout_uris": form.get("logout_uris"),
        "grant_types": form.all("grant_types"),
        "mfa_policy": form.get("mfa_policy"),
    }


def _from_client(client: ClientRecord) -> dict[str, Any]:
    return {
        "name": client.name,
        "kind": "public" if client.is_public else "confidential",
        "first_party": client.first_party,
        "redirect_uris": "\n".join(client.redirect_uris),
        "logout_uris": "\n".join(client.post_logout_redirect_uris),
        "grant_types": client.grant_types,
        "mfa_policy": client.mfa_policy or "",
    }


def _mfa_policy(raw: str) -> str | None:
    return raw or None  # empty: follow the server-wide policy


async def _list(request: Request, admin: Admin) -> Response:
    clients = await ctx(request).store.clients.list()
    return admin_page(
        request,
        admin,
        "admin/applications.html",
        {"clients": clients, "locked_id": ADMIN_CLIENT_ID},
        active="applications",
    )


def _form_page(
    request: Request,
    admin: Admin,
    *,
    client: ClientRecord | None,
    values: dict[str, Any],
    secret: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return admin_page(
        request,
        admin,
        "admin/application.html",
        {
            "client": client,
            "values": values,
            "grant_types": GRANT_TYPES,
            "secret": secret,
            "locked": client is not None and client.id == ADMIN_CLIENT_ID,
        },
        active="applications",
        error=error,
        status_code=status_code,
    )


async def _new(request: Request, admin: Admin) -> Response:
    values = {
        "name": "",
        "kind": "confidential",
        "first_party": False,
        "redirect_uris": "",
        "logout_uris": "",
        "grant_types": ["authorization_code", "refresh_token"],
        "mfa_policy": "",
    }
    return _form_page(request, admin, client=None, values=values)


async def _create(request: Request, admin: Admin, form: Form) -> Response:
    draft = _draft(form)
    spec = ClientSpec(
        name=draft["name"],
        is_public=draft["kind"] == "public",
        first_party=draft["first_party"],
        redirect_uris=_lines(draft["redirect_uris"]),
        post_logout_redirect_uris=_lines(draft["logout_uris"]),
        grant_types=draft["grant_types"],
        mfa_policy=_mfa_policy(draft["mfa_policy"]),
    )
    try:
        client, secret = await operations(ctx(request)).clients.create(spec, admin.actor)
    except OperationError as exc:
        return _form_page(
            request,
            admin,
            client=None,
            values=draft,
            error=f"Not created: {exc}",
            status_code=exc.status,
        )
    # Answered directly (no redirect): the secret must not travel in a URL or a cookie.
    return _form_page(request, admin, client=client, values=_from_client(client), secret=secret)


async def _edit(request: Request, admin: Admin) -> Response:
    try:
        client = await operations(ctx(request)).clients.get(request.path_params["client_id"])
    except OperationError as exc:
        return admin_page(
            request,
            admin,
            "admin/applications.html",
            {"clients": [], "locked_id": ADMIN_CLIENT_ID},
            active="applications",
            error=str(exc),
            status_code=exc.status,
        )
    return _form_page(request, admin, client=client, values=_from_client(client))


async def _update(request: Request, admin: Admin, form: Form) -> Response:
    ops = operations(ctx(request)).clients
    client_id = request.path_params["client_id"]
    draft = _draft(form)
    try:
        client = await ops.get(client_id)
        if client.id == ADMIN_CLIENT_ID:
            raise OperationError(LOCKED)
        changes = {
            "name": draft["name"],
            "first_party": draft["first_party"],
            "redirect_uris": _lines(draft["redirect_uris"]),
            "post_logout_redirect_uris": _lines(draft["logout_uris"]),
            "grant_types": draft["grant_types"],
            "mfa_policy": _mfa_policy(draft["mfa_policy"]),
        }
        await ops.update(client_id, changes, admin.actor)
    except OperationError as exc:
        current = await ctx(request).store.clients.get(client_id)
        if current is None:
            return redirect_with_notice(request, "/admin/applications", str(exc))
        draft["kind"] = "public" if current.is_public else "confidential"
        return _form_page(
            request,
            admin,
            client=current,
            values=draft,
            error=f"Not saved: {exc}",
            status_code=exc.status,
        )
    return redirect_with_notice(request, f"/admin/applications/{client_id}", "Application saved.")


async def _rotate(request: Request, admin: Admin, form: Form) -> Response:
    ops = operations(ctx(request)).clients
    client_id = request.path_params["client_id"]
    try:
        secret = await ops.rotate_secret(client_id, admin.actor)
        client = await ops.get(client_id)
    except OperationError as exc:
        current = await ctx(request).store.clients.get(client_id)
        if current is None:
            return redirect_with_notice(request, "/admin/applications", str(exc))
        return _form_page(
            request,
            admin,
            client=current,
            values=_from_client(current),
            error=f"Not rotated: {exc}",
            status_code=exc.status,
        )
    return _form_page(request, admin, client=client, values=_from_client(client), secret=secret)


async def _delete(request: Request, admin: Admin, form: Form) -> Response:
    client_id = request.path_params["client_id"]
    try:
        if client_id == ADMIN_CLIENT_ID:
            raise OperationError(LOCKED)
        await operations(ctx(request)).clients.delete(client_id, admin.actor)
    except OperationError as exc:
        return redirect_with_notice(request, "/admin/applications", f"Not deleted: {exc}")
    return redirect_with_notice(request, "/admin/applications", "Application deleted.")


applications = admin_get(_list)
new = admin_get(_new)
create = admin_post(_create)
edit = admin_get(_edit)
update = admin_post(_update)
rotate = admin_post(_rotate)
delete = admin_post(_delete)
