"""Every Management API endpoint, the Starlette routes built from them, and the OpenAPI
document generated from the same table (so the document cannot drift from the routes)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from provider.context import ctx
from provider.management.api import clients, connections, emails, guardian, users
from provider.management.api.errors import ApiProblem
from provider.management.api.framework import Endpoint, serve

PREFIX = "/api/v2"
ENDPOINTS: list[Endpoint] = [
    *guardian.ENDPOINTS,
    *emails.ENDPOINTS,
    *users.ENDPOINTS,
    *clients.ENDPOINTS,
    *connections.ENDPOINTS,
]
ERROR = {
    "type": "object",
    "properties": {
        "statusCode": {"type": "integer"},
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errorCode": {"type": "string"},
    },
    "required": ["statusCode", "error", "message"],
}


def management_routes() -> list[Route]:
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in ENDPOINTS:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    routes = [Route(PREFIX + "/openapi.json", openapi_document, methods=["GET"])]
    for path, methods in by_path.items():
        handlers = {method: serve(endpoint) for method, endpoint in methods.items()}

        async def dispatch(request: Request, handlers: Any = handlers) -> Response:
            return await handlers[request.method](request)

        routes.append(Route(PREFIX + path, dispatch, methods=list(methods)))
    known = list(routes)

    async def unknown(request: Request) -> Response:
        """Anything else under /api/v2 (an unknown path, or a known one with another method)
        answers in Auth0's error shape too."""
        for route in known:
            if route.matches(request.scope)[0] != Match.NONE:
                problem = ApiProblem(405, "Method not allowed").response()
                problem.headers["Allow"] = ", ".join(sorted(route.methods or ()))
                return problem
        return ApiProblem(404, "Not Found").response()

    every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes.append(Route(PREFIX + "/{rest:path}", unknown, methods=every))
    return routes


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in endpoint.query
    ]
    errors = {
        str(status): {"description": text, "content": {"application/json": {"schema": ERROR}}}
        for status, text in (
            (400, "Bad request"),
            (401, "Missing or invalid token"),
            (403, "Insufficient scope"),
            (404, "Not found"),
            (409, "Conflict"),
        )
    }
    success: dict[str, Any] = {"description": endpoint.summary}
    if endpoint.status != 204:
        success["content"] = {"application/json": {"schema": endpoint.response_schema}}
    slug = re.sub(r"[^a-z0-9]+", "_", endpoint.path.lower()).strip("_")
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{slug}",
        "security": [{"bearer": [endpoint.scope]}],
        "parameters": parameters,
        "responses": {str(endpoint.status): success, **errors},
    }
    if endpoint.request_schema is not None:
        operation["requestBody"] = {
            "required": not endpoint.body_optional,
            "content": {"application/json": {"schema": endpoint.request_schema}},
        }
    return operation


def openapi(issuer: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(PREFIX + endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",  # JSON Schema types such as ["string", "null"]
        "info": {
            "title": "provider Management API",
            "version": "2",
            "description": "An Auth0-compatible subset. Authenticate with an access token from "
            f"the client_credentials grant for the audience {issuer}api/v2/; each operation "
            "names the scope it needs.",
        },
        "servers": [{"url": issuer.rstrip("/")}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
        "paths": paths,
    }


async def openapi_document(request: Request) -> Response:
    return JSONResponse(openapi(ctx(request).settings.issuer))
