"""How an endpoint of the Management API is declared and served: the method, path, scope and
schemas live in one `Endpoint`, which becomes a Starlette route and an OpenAPI operation."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.base import OAuth2Error
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from provider.context import AppContext, ctx
from provider.management.api.auth import ApiCaller, authorize_call
from provider.management.api.errors import NO_STORE, ApiProblem
from provider.management.api.schema import check
from provider.management.errors import OperationError
from provider.mfa.context import current_client_address
from provider.oauth.params import read_body

MAX_PER_PAGE = 100


@dataclass
class Call:
    app: AppContext
    request: Request
    caller: ApiCaller
    body: Any  # the checked JSON body ({} when the endpoint takes none)

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    @property
    def actor(self) -> str:
        return self.caller.actor


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # under /api/v2, with {params}
    scope: str
    handler: Handler
    summary: str
    request_schema: dict[str, Any] | None = None
    response_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    status: int = 200
    query: tuple[tuple[str, dict[str, Any]], ...] = ()  # documented query parameters
    body_optional: bool = False


def page_params(request: Request) -> tuple[int, int, bool]:
    """Auth0's pagination: `page` (from 0), `per_page` (≤ 100), `include_totals`."""
    try:
        page = int(request.query_params.get("page", "0"))
        per_page = int(request.query_params.get("per_page", "50"))
    except ValueError as exc:
        raise ApiProblem(400, "Query validation error: page and per_page must be integers") from exc
    if page < 0 or not 1 <= per_page <= MAX_PER_PAGE or page > 1_000_000:
        raise ApiProblem(400, f"Query validation error: page ≥ 0 and 1 ≤ per_page ≤ {MAX_PER_PAGE}")
    totals = request.query_params.get("include_totals", "false")
    if totals not in ("true", "false"):
        raise ApiProblem(400, "Query validation error: include_totals must be true or false")
    return page, per_page, totals == "true"


def paged(key: str, items: list[Any], page: int, per_page: int, total: int, totals: bool) -> Any:
    if not totals:
        return items
    return {
        key: items,
        "start": page * per_page,
        "limit": per_page,
        "length": len(items),
        "total": total,
    }


PAGE_QUERY: tuple[tuple[str, dict[str, Any]], ...] = (
    ("page", {"type": "integer", "minimum": 0}),
    ("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}),
    ("include_totals", {"type": "boolean"}),
)


async def _read_json(request: Request, limit: int) -> Any:
    raw = await read_body(request, limit)
    if not raw.strip():
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiProblem(400, "Payload validation error: send application/json")
    try:
        document = json.loads(raw)
        json.dumps(document, ensure_ascii=False).encode()  # no lone surrogates ("\\ud800")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiProblem(400, "Payload validation error: the body is not valid JSON") from exc
    return document


def _nul_at(value: Any, where: str) -> str | None:
    """The dotted path of the first string holding NUL, if any."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        if "\x00" in str(key):
            return path
        if found := _nul_at(item, path):
            return found
    return None


def refuse_nul(body: Any) -> None:
    """PostgreSQL cannot store NUL in text, and no field has a use for it: a 400 naming the
    property, not a database error."""
    if (where := _nul_at(body, "")) is not None:
        raise ApiProblem(400, f"Payload validation error: NUL is not allowed in {where[:80]}")


def serve(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        app = ctx(request)
        current_client_address.set(request.client.host if request.client else None)
        try:
            caller = await authorize_call(app, request, endpoint.scope)
            body: Any = {}
            if endpoint.request_schema is not None:
                document = await _read_json(request, app.settings.max_body_bytes)
                if document is None and not endpoint.body_optional:
                    raise ApiProblem(400, "Payload validation error: a JSON body is required")
                body = check(document, endpoint.request_schema) if document is not None else {}
                refuse_nul(body)
            result = await endpoint.handler(Call(app, request, caller, body))
        except ApiProblem as problem:
            return problem.response()
        except OperationError as exc:
            return ApiProblem(exc.status, str(exc)).response()
        except OAuth2Error as exc:  # an oversized body
            return ApiProblem(exc.status_code or 400, exc.description or "Bad request").response()
        if isinstance(result, Response):
            return result
        if endpoint.status == 204:
            return Response(status_code=204, headers=NO_STORE)
        return JSONResponse(result, status_code=endpoint.status, headers=NO_STORE)

    return handle
