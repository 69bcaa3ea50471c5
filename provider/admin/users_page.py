"""Users: search with pagination, a user's detail with authenticators, and the operator's
actions (mark email verified, send a verification email, reset MFA, block or unblock)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from provider.admin.render import admin_page
from provider.admin.session import Admin, Form, admin_get, admin_post, redirect_with_notice
from provider.context import ctx
from provider.db.roles import ADMIN
from provider.management.errors import OperationError
from provider.management.operations import operations

PER_PAGE = 20


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 7 else 0


async def _list(request: Request, admin: Admin) -> Response:
    query = request.query_params.get("q", "")[:320].replace("\x00", "")  # PostgreSQL refuses NUL
    page = _page_number(request.query_params.get("page"))
    found, total = await operations(ctx(request)).users.search(query, page, PER_PAGE)
    return admin_page(
        request,
        admin,
        "admin/users.html",
        {
            "users": found,
            "q": query,
            "page": page,
            "total": total,
            "has_next": (page + 1) * PER_PAGE < total,
        },
        active="users",
    )


async def _render_detail(
    request: Request, admin: Admin, user_id: str, error: str | None = None, status_code: int = 200
) -> Response:
    app = ctx(request)
    ops = operations(app).users
    try:
        user = await ops.get(user_id)
        authenticators = await ops.authenticators(user_id)
    except OperationError as exc:
        return admin_page(
            request,
            admin,
            "admin/users.html",
            {"users": [], "q": "", "page": 0, "total": 0, "has_next": False},
            active="users",
            error=str(exc),
            status_code=exc.status,
        )
    return admin_page(
        request,
        admin,
        "admin/user.html",
        {
            "user": user,
            "authenticators": authenticators,
            "is_admin": await app.store.roles.has(user.id, ADMIN),
        },
        active="users",
        error=error,
        status_code=status_code,
    )


async def _detail(request: Request, admin: Admin) -> Response:
    return await _render_detail(request, admin, request.path_params["user_id"])


async def _action(request: Request, admin: Admin, form: Form) -> Response:
    user_id, action = request.path_params["user_id"], request.path_params["action"]
    ops = operations(ctx(request)).users
    try:
        if action == "verify-email":
            await ops.update(user_id, {"email_verified": True}, admin.actor)
            notice = "Email marked as verified."
        elif action == "send-verification":
            await ops.send_verification_email(user_id, admin.actor)
            notice = "Verification email queued."
        elif action == "reset-mfa":
            await ops.reset_mfa(user_id, admin.actor)
            notice = "MFA reset: the user enrolls again at the next sign-in."
        elif action in ("block", "unblock"):
            if action == "block" and user_id == admin.user.id:
                raise OperationError("you cannot block yourself")
            await ops.update(user_id, {"blocked": action == "block"}, admin.actor)
            notice = "User blocked: sessions ended." if action == "block" else "User unblocked."
        else:
            raise OperationError(f"unknown action {action!r}")
    except OperationError as exc:
        return await _render_detail(
            request, admin, user_id, error=f"Not done: {exc}", status_code=exc.status
        )
    return redirect_with_notice(request, f"/admin/users/{user_id}", notice)


users = admin_get(_list)
user = admin_get(_detail)
action = admin_post(_action)
