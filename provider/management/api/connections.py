"""Connections: upstream OpenID providers (Auth0's shape: `strategy`, `options`)."""

from __future__ import annotations

from typing import Any

from provider.db.connections import Connection
from provider.federation.pages import CALLBACK_PATH
from provider.management.api.errors import ApiProblem
from provider.management.api.framework import Call, Endpoint
from provider.management.api.schema import BOOLEAN, STRING, STRINGS, body
from provider.management.connections import ConnectionSpec
from provider.management.operations import operations

OPTIONS = body(
    {
        "issuer": STRING,
        "client_id": STRING,
        "client_secret": STRING,
        "scopes": STRINGS,
        "trust_email_verified": BOOLEAN,
        "allow_linking": BOOLEAN,
    }
)
CONNECTION = {
    "type": "object",
    "properties": {
        "id": STRING,
        "name": STRING,
        "strategy": STRING,
        "display_name": STRING,
        "enabled": BOOLEAN,
        "callback_url": STRING,
        "options": OPTIONS,
    },
}
CREATE = body(
    {
        "name": STRING,
        "strategy": {"type": "string", "enum": ["oidc", "google-oauth2"]},
        "display_name": STRING,
        "options": OPTIONS,
    },
    ("name", "options"),
)
PATCH = body({"display_name": STRING, "enabled": BOOLEAN, "options": OPTIONS})


def connection_body(connection: Connection, callback_url: str) -> dict[str, Any]:
    return {
        "id": connection.id,
        "name": connection.name,
        "strategy": "google-oauth2"
        if connection.issuer == "https://accounts.google.com"
        else "oidc",
        "display_name": connection.display_name,
        "enabled": connection.enabled,
        "callback_url": callback_url,
        "options": {  # the client secret is write-only
            "issuer": connection.issuer,
            "client_id": connection.client_id,
            "scopes": connection.scopes,
            "trust_email_verified": connection.trust_email_verified,
            "allow_linking": connection.allow_linking,
        },
    }


def _callback(call: Call) -> str:
    return call.app.settings.url(CALLBACK_PATH)


async def list_connections(call: Call) -> Any:
    return [
        connection_body(c, _callback(call)) for c in await operations(call.app).connections.list()
    ]


async def create_connection(call: Call) -> Any:
    options = call.body["options"]
    if "client_id" not in options or "client_secret" not in options:
        raise ApiProblem(
            400,
            "Payload validation error: options.client_id and options.client_secret are required",
        )
    spec = ConnectionSpec(
        name=call.body["name"],
        client_id=options["client_id"],
        client_secret=options["client_secret"],
        issuer=options.get("issuer"),
        scopes=options.get("scopes", []),
        display_name=call.body.get("display_name"),
        trust_email_verified=options.get("trust_email_verified"),
        allow_linking=options.get("allow_linking", False),
        preset="google" if call.body.get("strategy") == "google-oauth2" else None,
    )
    connection = await operations(call.app).connections.create(spec, call.actor)
    return connection_body(connection, _callback(call))


async def get_connection(call: Call) -> Any:
    return connection_body(
        await operations(call.app).connections.get(call.path("id")), _callback(call)
    )


async def patch_connection(call: Call) -> Any:
    changes = {k: v for k, v in call.body.items() if k != "options"}
    options = dict(call.body.get("options", {}))
    if "issuer" in options:
        raise ApiProblem(400, "The issuer of a connection cannot change: create another one")
    changes.update(options)
    if not changes:
        raise ApiProblem(400, "Payload validation error: nothing to change")
    connection = await operations(call.app).connections.update(call.path("id"), changes, call.actor)
    return connection_body(connection, _callback(call))


async def delete_connection(call: Call) -> None:
    await operations(call.app).connections.delete(call.path("id"), call.actor)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/connections",
        "read:connections",
        list_connections,
        "List the upstream identity providers",
        response_schema={"type": "array", "items": CONNECTION},
    ),
    Endpoint(
        "POST",
        "/connections",
        "create:connections",
        create_connection,
        "Add an upstream OpenID provider (strategy google-oauth2 fills in Google's issuer "
        "and scopes); register callback_url at the upstream",
        request_schema=CREATE,
        response_schema=CONNECTION,
        status=201,
    ),
    Endpoint(
        "GET",
        "/connections/{id}",
        "read:connections",
        get_connection,
        "A connection",
        response_schema=CONNECTION,
    ),
    Endpoint(
        "PATCH",
        "/connections/{id}",
        "update:connections",
        patch_connection,
        "Change a connection (client credentials, scopes, switches, enabled)",
        request_schema=PATCH,
        response_schema=CONNECTION,
    ),
    Endpoint(
        "DELETE",
        "/connections/{id}",
        "delete:connections",
        delete_connection,
        "Remove a connection (users keep their accounts and identities)",
        status=204,
    ),
]
