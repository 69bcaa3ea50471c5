"""Applications (OAuth clients), in Auth0's field names."""

from __future__ import annotations

from typing import Any

from provider.db.records import ClientRecord
from provider.management.api.framework import PAGE_QUERY, Call, Endpoint, page_params, paged
from provider.management.api.schema import BOOLEAN, NULLABLE_STRING, STRING, STRINGS, body
from provider.management.clients import ClientSpec
from provider.management.errors import OperationError
from provider.management.operations import operations

CLIENT = {
    "type": "object",
    "properties": {
        "client_id": STRING,
        "name": STRING,
        "is_first_party": BOOLEAN,
        "token_endpoint_auth_method": STRING,
        "callbacks": STRINGS,
        "allowed_logout_urls": STRINGS,
        "grant_types": STRINGS,
        "api_audiences": STRINGS,
        "api_scopes": STRINGS,
        "mfa_policy": NULLABLE_STRING,
        "client_secret": STRING,
    },
}
FIELDS = {
    "name": STRING,
    "is_first_party": BOOLEAN,
    "callbacks": STRINGS,
    "allowed_logout_urls": STRINGS,
    "grant_types": STRINGS,
    "api_audiences": STRINGS,
    "api_scopes": STRINGS,
    "mfa_policy": {"type": ["string", "null"], "enum": ["never", "always", None]},
}
CREATE = body(
    {
        **FIELDS,
        "token_endpoint_auth_method": {
            "type": "string",
            "enum": ["none", "client_secret_post", "client_secret_basic"],
        },
    },
    ("name",),
)
# Auth0 name → ClientRecord / ClientSpec field.
RENAMES = {
    "is_first_party": "first_party",
    "callbacks": "redirect_uris",
    "allowed_logout_urls": "post_logout_redirect_uris",
    "api_audiences": "audiences",
    "api_scopes": "scopes",
}


def client_body(client: ClientRecord, secret: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "client_id": client.id,
        "name": client.name,
        "is_first_party": client.first_party,
        "token_endpoint_auth_method": "none" if client.is_public else "client_secret_post",
        "callbacks": client.redirect_uris,
        "allowed_logout_urls": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "api_audiences": client.audiences,
        "api_scopes": client.scopes,
        "mfa_policy": client.mfa_policy,
    }
    if secret:
        answer["client_secret"] = secret  # only when created or rotated: stored as a hash
    return answer


async def list_clients(call: Call) -> Any:
    page, per_page, totals = page_params(call.request)
    found = await call.app.store.clients.list()
    window = found[page * per_page : (page + 1) * per_page]
    return paged("clients", [client_body(c) for c in window], page, per_page, len(found), totals)


async def create_client(call: Call) -> Any:
    values = {RENAMES.get(k, k): v for k, v in call.body.items()}
    method = values.pop("token_endpoint_auth_method", "client_secret_post")
    spec = ClientSpec(is_public=method == "none", **values)
    client, secret = await operations(call.app).clients.create(spec, call.actor)
    return client_body(client, secret)


async def get_client(call: Call) -> Any:
    return client_body(await operations(call.app).clients.get(call.path("id")))


async def patch_client(call: Call) -> Any:
    changes = {RENAMES.get(k, k): v for k, v in call.body.items()}
    if not changes:
        raise OperationError("nothing to change")
    return client_body(
        await operations(call.app).clients.update(call.path("id"), changes, call.actor)
    )


async def delete_client(call: Call) -> None:
    await operations(call.app).clients.delete(call.path("id"), call.actor)


async def rotate_secret(call: Call) -> Any:
    clients = operations(call.app).clients
    secret = await clients.rotate_secret(call.path("id"), call.actor)
    return client_body(await clients.get(call.path("id")), secret)


async def list_logs(call: Call) -> Any:
    page, per_page, totals = page_params(call.request)
    events = await call.app.store.audit.recent(per_page, page * per_page)
    total = await call.app.store.audit.count() if totals else 0
    return paged("logs", [e.public() for e in events], page, per_page, total, totals)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/clients",
        "read:clients",
        list_clients,
        "List applications",
        query=PAGE_QUERY,
        response_schema={"oneOf": [{"type": "array", "items": CLIENT}, {"type": "object"}]},
    ),
    Endpoint(
        "POST",
        "/clients",
        "create:clients",
        create_client,
        "Create an application; a confidential one's secret is returned once",
        request_schema=CREATE,
        response_schema=CLIENT,
        status=201,
    ),
    Endpoint(
        "GET", "/clients/{id}", "read:clients", get_client, "An application", response_schema=CLIENT
    ),
    Endpoint(
        "PATCH",
        "/clients/{id}",
        "update:clients",
        patch_client,
        "Change an application (lists are replaced whole)",
        request_schema=body(FIELDS),
        response_schema=CLIENT,
    ),
    Endpoint(
        "DELETE",
        "/clients/{id}",
        "delete:clients",
        delete_client,
        "Delete an application (its tokens are revoked)",
        status=204,
    ),
    Endpoint(
        "POST",
        "/clients/{id}/rotate-secret",
        "update:client_keys",
        rotate_secret,
        "Issue a new client secret (the old one stops working at once)",
        response_schema=CLIENT,
    ),
    Endpoint(
        "GET",
        "/logs",
        "read:logs",
        list_logs,
        "The audit log of operator changes, newest first (provider's shape)",
        query=PAGE_QUERY,
        response_schema={"oneOf": [{"type": "array"}, {"type": "object"}]},
    ),
]
