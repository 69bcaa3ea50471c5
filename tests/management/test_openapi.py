"""The OpenAPI document at /api/v2/openapi.json: served exactly as `openapi(issuer)` builds it,
in step with the Starlette routes (both ways), valid OpenAPI 3.0 — and schemathesis, driven by
it against a live server with an all-scopes token, gets no 5xx from any operation, with
positive and negative generated data.

Destructive operations: the calling client (`ops`) is never offered to generated requests —
path ids are either generated strings (which match nothing) or drawn from pools of disposable
users, clients and connections made for the run; a case that would still name the caller's own
client is rejected. Email-provider bodies are pinned to loopback so no example reaches DNS or the
network."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from provider.management.api.framework import Endpoint
from provider.management.api.routes import ENDPOINTS, PREFIX, management_routes, openapi
from provider.management.scopes import MANAGEMENT_SCOPES
from tests.management.helpers import call, endpoint_id, machine_client, token_for
from tests.servers import ProviderServer, dispose, free_port, new_server

EXAMPLES = 15
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    instance = new_server(tmp_path_factory.mktemp("mgmt-openapi"))
    instance.start()
    yield instance
    dispose(instance)


@pytest.fixture(scope="module")
def ops(server: ProviderServer) -> dict:
    return machine_client(server)


@pytest.fixture(scope="module")
def token(server: ProviderServer, ops: dict) -> str:
    return token_for(server, ops)


@pytest.fixture(scope="module")
def served(server: ProviderServer) -> dict[str, Any]:
    answer = httpx.get(server.base_url + PREFIX + "/openapi.json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    return dict(answer.json())


def _route_pairs() -> set[tuple[str, str]]:
    pairs = set()
    for route in management_routes():
        if route.path in (PREFIX + "/openapi.json", PREFIX + "/{rest:path}"):
            continue
        assert route.path.startswith(PREFIX + "/"), route.path
        for method in route.methods or ():
            if method != "HEAD":
                pairs.add((route.path, method.lower()))
    return pairs


def _document_pairs(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


# -- the document ----------------------------------------------------------------------------
def test_served_document_equals_the_generated_one(
    server: ProviderServer, served: dict[str, Any]
) -> None:
    assert served == openapi(server.issuer)
    assert served["servers"] == [{"url": server.base_url}]
    assert server.issuer + "api/v2/" in served["info"]["description"]


def test_every_route_is_documented_and_every_operation_is_routed(served: dict[str, Any]) -> None:
    routes, documented = _route_pairs(), _document_pairs(served)
    assert routes == documented, (routes - documented, documented - routes)
    assert len(documented) == len(ENDPOINTS)


def test_every_documented_operation_answers_live(
    server: ProviderServer, served: dict[str, Any]
) -> None:
    """The other way round, over HTTP: each documented operation reaches its endpoint (no
    token: the endpoint's own 401, not the catch-all's 404/405)."""
    for path, method in _document_pairs(served):
        concrete = path.replace("{", "").replace("}", "")
        answer = httpx.request(method.upper(), server.base_url + concrete)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["errorCode"] == "missing_token"
    unknown = httpx.get(server.base_url + PREFIX + "/not-documented")
    assert unknown.status_code == 404 and unknown.json()["statusCode"] == 404


def test_operations_name_their_scope_and_parameters(served: dict[str, Any]) -> None:
    by_key = {(PREFIX + e.path, e.method.lower()): e for e in ENDPOINTS}
    operation_ids = []
    for (path, method), endpoint in by_key.items():
        operation = served["paths"][path][method]
        operation_ids.append(operation["operationId"])
        assert operation["security"] == [{"bearer": [endpoint.scope]}]
        assert endpoint.scope in MANAGEMENT_SCOPES
        assert str(endpoint.status) in operation["responses"]
        for status in ("400", "401", "403", "404"):
            error = operation["responses"][status]["content"]["application/json"]["schema"]
            assert error["required"] == ["statusCode", "error", "message"]
        path_names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert path_names == set(part[1:-1] for part in path.split("/") if part.startswith("{"))
        assert all(p["required"] for p in operation["parameters"] if p["in"] == "path")
        if endpoint.request_schema is not None:
            body = operation["requestBody"]
            assert body["required"] is not endpoint.body_optional
            assert body["content"]["application/json"]["schema"] == endpoint.request_schema
        else:
            assert "requestBody" not in operation
    assert len(operation_ids) == len(set(operation_ids))
    assert served["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_document_is_valid_openapi_3(served: dict[str, Any]) -> None:
    """Checked against the OpenAPI 3.1 meta-schema that schemathesis ships with (it brings no
    openapi-spec-validator), each schema object against JSON Schema 2020-12, plus structural
    rules the meta-schema cannot express."""
    import jsonschema_rs
    from schemathesis.specs.openapi.definitions import OPENAPI_31

    assert served["openapi"] == "3.1.0"  # request schemas use type lists such as [string, null]
    validator = jsonschema_rs.validator_for(OPENAPI_31)
    assert [error.message for error in validator.iter_errors(served)] == []
    for item in served["paths"].values():
        for operation in item.values():
            schemas = [p["schema"] for p in operation["parameters"]]
            if "requestBody" in operation:
                schemas.append(operation["requestBody"]["content"]["application/json"]["schema"])
            for response in operation["responses"].values():
                assert response["description"]
                if "content" in response:
                    schemas.append(response["content"]["application/json"]["schema"])
            for schema in schemas:
                jsonschema_rs.Draft202012Validator(schema)  # raises on an invalid schema
                assert jsonschema_rs.meta.is_valid(schema), schema
    loaded = schemathesis.openapi.from_dict(served)
    loaded.validate()
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == len(ENDPOINTS)


def test_the_document_needs_no_token(server: ProviderServer) -> None:
    answer = httpx.get(
        server.base_url + PREFIX + "/openapi.json", headers={"Authorization": "Bearer junk"}
    )
    assert answer.status_code == 200


# -- schemathesis ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pools(server: ProviderServer, token: str) -> dict[str, list[str]]:
    """Disposable objects that generated requests may name (and change or delete)."""
    users = [
        call(server, "POST", "/users", token, json={"email": f"pool{i}@example.com"}).json()[
            "user_id"
        ]
        for i in range(6)
    ]
    clients = [
        call(
            server,
            "POST",
            "/clients",
            token,
            json={"name": f"pool {i}", "grant_types": ["client_credentials"]},
        ).json()["client_id"]
        for i in range(6)
    ]
    connections = []
    for i in range(4):
        created = call(
            server,
            "POST",
            "/connections",
            token,
            json={
                "name": f"pool-{i}",
                "options": {
                    "issuer": "https://idp.example",
                    "client_id": "a",
                    "client_secret": "b",
                },
            },
        )
        if created.status_code == 201:
            connections.append(created.json()["id"])
    return {
        "users": users[:3],
        "doomed-users": users[3:],
        "clients": clients[:3],
        "doomed-clients": clients[3:],
        "connections": connections[:2],
        "doomed-connections": connections[2:],
        "templates": ["mfa_oob_code", "verify_email"],
        "factors": ["otp", "recovery-code", "email", "example-pin"],
    }


@pytest.fixture(scope="module")
def closed_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def api_schema(server: ProviderServer) -> Any:
    return schemathesis.openapi.from_url(server.base_url + PREFIX + "/openapi.json")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _pick(value: Any, pool: list[str]) -> Any:
    """Half the generated values (chosen by a hash, so runs repeat) become a pooled real id."""
    if not pool or not isinstance(value, str):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
    return pool[digest[1] % len(pool)] if digest[0] % 2 == 0 else value


def _pin_to_loopback(body: Any, closed_port: int) -> None:
    if not isinstance(body, dict):
        return
    credentials = body.get("credentials")
    if isinstance(credentials, dict):
        if isinstance(credentials.get("smtp_host"), str) and credentials["smtp_host"].strip():
            credentials["smtp_host"] = "127.0.0.1"
        port = credentials.get("smtp_port")
        if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
            credentials["smtp_port"] = closed_port


def _prepare(case: Any, ops: dict, pools: dict[str, list[str]], closed_port: int) -> None:
    path = case.operation.path.removeprefix(PREFIX)  # the document's paths include /api/v2
    assert path != case.operation.path
    params = case.path_parameters
    if params:
        if "id" in params:
            pool = (
                pools["users"]
                if path.startswith("/users")
                else pools["clients"]
                if path.startswith("/clients")
                else pools["connections"]
                if path.startswith("/connections")
                else []
            )
            if case.method == "DELETE" and path.count("/") == 2:
                pool = pools["doomed-" + path.split("/")[1]]  # deletions use their own pool
            params["id"] = _pick(params["id"], pool)
        if "template" in params:
            params["template"] = _pick(params["template"], pools["templates"])
        if "name" in params:
            params["name"] = _pick(params["name"], pools["factors"])
        # the caller's own client is never deleted or changed by a generated request
        assert params.get("id") != ops["client_id"]
    if path.startswith("/emails/provider"):
        _pin_to_loopback(case.body, closed_port)
    body = case.body
    if isinstance(body, dict) and case.method == "POST":
        # Some generated values become plausible, so that creation succeeds with the rest of
        # the body still generated: an address with an @, a grant type, a sender address.
        if path == "/users" and isinstance(body.get("email"), str):
            body["email"] = _pick(body["email"], [f"{_digest(body['email'])}@example.com"])
        if path == "/clients" and "grant_types" not in body:
            body["grant_types"] = ["client_credentials"]
        if path == "/emails/provider" and isinstance(body.get("default_from_address"), str):
            body["default_from_address"] = "ops@example.com"


# schemathesis' own pytest integration (`schemathesis.pytest.from_fixture(...).parametrize()`)
# reads `request.node._nodeid`, which pytest 9 no longer has; so each operation's strategy is
# driven by Hypothesis directly: the same generation, the same checks.
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_operation_answers_5xx(
    endpoint: Endpoint,
    mode: GenerationMode,
    api_schema: Any,
    token: str,
    ops: dict,
    pools: dict[str, list[str]],
    closed_port: int,
) -> None:
    operation = api_schema[PREFIX + endpoint.path][endpoint.method]
    calls: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        _prepare(case, ops, pools, closed_port)
        response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if case.operation.path.startswith(PREFIX + "/emails/provider") and isinstance(
            case.body, dict
        ):
            sent = response.request.body or b""
            credentials = case.body.get("credentials")
            if isinstance(credentials, dict) and "smtp_host" in credentials:
                host = json.loads(sent)["credentials"].get("smtp_host")
                assert host in ("127.0.0.1", credentials["smtp_host"]), host
        calls.append(response.status_code)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                content_type_conformance,
                response_schema_conformance,
                status_code_conformance,
            ],
        )
        if response.status_code >= 400:
            body = response.json()
            assert body["statusCode"] == response.status_code and body["message"], body

    run()
    assert calls  # examples were generated and sent
    if os.environ.get("MGMT_FUZZ_SUMMARY"):
        print(f"\n{mode.value:8} {endpoint.method:6} {endpoint.path:50} {sorted(calls)}")


def test_the_fuzzed_server_still_serves(server: ProviderServer, token: str) -> None:
    """After the run: the caller still works, and the server still answers."""
    assert call(server, "GET", "/guardian/factors", token).status_code == 200
    assert httpx.get(server.base_url + "/healthz").status_code == 200
