"""Small JSON schemas for request bodies, and the check that enforces them: the OpenAPI
document shows exactly the schemas the endpoints enforce."""

from __future__ import annotations

from typing import Any

from provider.management.api.errors import ApiProblem

STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
INTEGER = {"type": "integer"}
STRINGS = {"type": "array", "items": {"type": "string"}}
NULLABLE_STRING = {"type": ["string", "null"]}
OBJECT = {"type": "object"}


def body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _matches(value: Any, schema: dict[str, Any]) -> bool:
    if "enum" in schema and not any(
        value == allowed and type(value) is type(allowed) for allowed in schema["enum"]
    ):
        return False
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    for kind in kinds:
        if isinstance(value, _PYTHON_TYPES[kind]) and not (
            kind == "integer" and isinstance(value, bool)
        ):
            if kind == "array" and "items" in schema:
                return all(_matches(item, schema["items"]) for item in value)
            if kind == "object" and "properties" in schema:
                try:
                    check(value, schema)
                except ApiProblem:
                    return False
            if kind == "string" and len(value) > schema.get("maxLength", 100_000):
                return False
            return True
    return False


def check(document: Any, schema: dict[str, Any]) -> Any:
    """The body if it fits the schema; a 400 naming the first problem otherwise."""
    if schema.get("type") == "array":
        if not _matches(document, schema) or not all(
            item in schema["items"].get("enum", [item]) for item in document
        ):
            raise ApiProblem(400, "Payload validation error: expected an array of strings")
        return document
    if not isinstance(document, dict):
        raise ApiProblem(400, "Payload validation error: the body must be a JSON object")
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in document:
            raise ApiProblem(400, f"Payload validation error: Missing required property: {name}")
    for name, value in document.items():
        if name not in properties:
            if schema.get("additionalProperties", True) is False:
                raise ApiProblem(
                    400, f"Payload validation error: Additional properties not allowed: {name[:64]}"
                )
            continue
        if not _matches(value, properties[name]):
            raise ApiProblem(400, f"Payload validation error: Invalid type for property {name}")
    return document
