"""Users, their authenticators, recovery codes, and verification-email jobs."""

from __future__ import annotations

from typing import Any

from provider.db.records import User
from provider.management.api.errors import ApiProblem
from provider.management.api.framework import PAGE_QUERY, Call, Endpoint, page_params, paged
from provider.management.api.schema import BOOLEAN, NULLABLE_STRING, STRING, body
from provider.management.operations import operations
from provider.mfa_api.endpoints import authenticator_body

USER = {
    "type": "object",
    "properties": {
        "user_id": STRING,
        "email": STRING,
        "email_verified": BOOLEAN,
        "name": NULLABLE_STRING,
        "blocked": BOOLEAN,
        "created_at": {"type": "integer"},
    },
}
CREATE = body(
    {
        "email": STRING,
        "password": STRING,
        "name": NULLABLE_STRING,
        "email_verified": BOOLEAN,
        "connection": STRING,
        "verify_email": BOOLEAN,
    },
    ("email",),
)
PATCH = body(
    {
        "email": STRING,
        "password": STRING,
        "name": NULLABLE_STRING,
        "email_verified": BOOLEAN,
        "blocked": BOOLEAN,
        "connection": STRING,
    }
)
AUTHENTICATOR = {
    "type": "object",
    "properties": {"id": STRING, "authenticator_type": STRING, "active": BOOLEAN},
}
JOB = body({"id": STRING, "type": STRING, "status": STRING, "created_at": {"type": "integer"}})
DATABASE = "Username-Password-Authentication"


def _user(user: User) -> dict[str, Any]:
    return user.public()


async def list_users(call: Call) -> Any:
    page, per_page, totals = page_params(call.request)
    query = call.request.query_params.get("q")
    found, total = await operations(call.app).users.search(query, page, per_page)
    return paged("users", [_user(u) for u in found], page, per_page, total, totals)


async def create_user(call: Call) -> Any:
    if call.body.get("connection", DATABASE) != DATABASE:
        raise ApiProblem(400, f"Connection must be {DATABASE}")
    users = operations(call.app).users
    user = await users.create(
        call.body["email"],
        call.body.get("password"),
        call.actor,
        name=call.body.get("name"),
        email_verified=call.body.get("email_verified", False),
    )
    if call.body.get("verify_email") and not user.email_verified:
        await users.send_verification_email(user.id, call.actor)
    return _user(user)


async def get_user(call: Call) -> Any:
    return _user(await operations(call.app).users.get(call.path("id")))


async def patch_user(call: Call) -> Any:
    changes = {k: v for k, v in call.body.items() if k != "connection"}
    return _user(await operations(call.app).users.update(call.path("id"), changes, call.actor))


async def delete_user(call: Call) -> None:
    await operations(call.app).users.delete(call.path("id"), call.actor)


async def list_authenticators(call: Call) -> Any:
    found = await operations(call.app).users.authenticators(call.path("id"))
    return [authenticator_body(a) for a in found]


async def reset_authenticators(call: Call) -> None:
    await operations(call.app).users.reset_mfa(call.path("id"), call.actor)


async def delete_authenticator(call: Call) -> None:
    await operations(call.app).users.delete_authenticator(
        call.path("id"), call.path("authenticator_id"), call.actor
    )


async def regenerate_recovery_code(call: Call) -> Any:
    code = await operations(call.app).users.regenerate_recovery_code(call.path("id"), call.actor)
    return {"recovery_code": code}


async def verification_email_job(call: Call) -> Any:
    message_id = await operations(call.app).users.send_verification_email(
        call.body["user_id"], call.actor
    )
    message = await call.app.store.outbox.get(message_id)
    return {
        "id": message_id,
        "type": "verification_email",
        "status": "pending",
        "created_at": message.created_at if message else 0,
    }


async def get_job(call: Call) -> Any:
    job_id = call.path("id")
    usable = "\x00" not in job_id and len(job_id) < 100  # PostgreSQL refuses NUL in text
    message = await call.app.store.outbox.get(job_id) if usable else None
    if message is None or message.template != "verify_email":
        raise ApiProblem(404, "No such job")
    status = {"sent": "completed", "failed": "failed"}.get(message.status, "pending")
    return {
        "id": message.id,
        "type": "verification_email",
        "status": status,
        "created_at": message.created_at,
    }


ENDPOINTS = [
    Endpoint(
        "GET",
        "/users",
        "read:users",
        list_users,
        "List users; `q` searches email, name and id",
        query=(("q", {"type": "string"}), *PAGE_QUERY),
        response_schema={"oneOf": [{"type": "array", "items": USER}, {"type": "object"}]},
    ),
    Endpoint(
        "POST",
        "/users",
        "create:users",
        create_user,
        "Create a user",
        request_schema=CREATE,
        response_schema=USER,
        status=201,
    ),
    Endpoint("GET", "/users/{id}", "read:users", get_user, "A user", response_schema=USER),
    Endpoint(
        "PATCH",
        "/users/{id}",
        "update:users",
        patch_user,
        "Change a user (email, email_verified, name, blocked, password); blocking or a new "
        "password ends the user's sessions and revokes their tokens",
        request_schema=PATCH,
        response_schema=USER,
    ),
    Endpoint(
        "DELETE",
        "/users/{id}",
        "delete:users",
        delete_user,
        "Delete a user (their tokens are revoked)",
        status=204,
    ),
    Endpoint(
        "GET",
        "/users/{id}/authenticators",
        "read:users",
        list_authenticators,
        "A user's MFA authenticators",
        response_schema={"type": "array", "items": AUTHENTICATOR},
    ),
    Endpoint(
        "DELETE",
        "/users/{id}/authenticators",
        "delete:guardian_enrollments",
        reset_authenticators,
        "Reset a user's MFA: remove every authenticator, lift a lock",
        status=204,
    ),
    Endpoint(
        "DELETE",
        "/users/{id}/authenticators/{authenticator_id}",
        "delete:guardian_enrollments",
        delete_authenticator,
        "Remove one authenticator (not a verified email)",
        status=204,
    ),
    Endpoint(
        "POST",
        "/users/{id}/recovery-code-regeneration",
        "update:users",
        regenerate_recovery_code,
        "Replace a user's recovery code; the new one is returned once",
        response_schema=body({"recovery_code": STRING}),
    ),
    Endpoint(
        "POST",
        "/jobs/verification-email",
        "update:users",
        verification_email_job,
        "Send a user a verification email",
        request_schema=body({"user_id": STRING}, ("user_id",)),
        response_schema=JOB,
        status=201,
    ),
    Endpoint(
        "GET",
        "/jobs/{id}",
        "update:users",
        get_job,
        "A verification-email job",
        response_schema=JOB,
    ),
]
