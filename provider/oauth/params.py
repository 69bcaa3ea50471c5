"""Reading OAuth parameters from a request: query strings, form bodies and JSON bodies.

JSON bodies are accepted wherever a form is (Auth0's SDKs send JSON): `null` means absent,
strings pass, numbers and booleans are taken as their text, anything else is refused. Bodies
are size-limited, must decode as UTF-8, and may not repeat a parameter.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from starlette.requests import Request

MAX_PARAM_LENGTH = 8192


class BodyTooLarge(InvalidRequestError):
    status_code = 413
    description = "The request body is too large."


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class _Members(list):  # type: ignore[type-arg]
    """A JSON object's members in order, duplicates kept (they count as repeated params)."""


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # JSON "\ud800" escapes decode to lone surrogates
    except UnicodeEncodeError:
        return False
    return True


def _from_json(body: bytes) -> dict[str, list[str]]:
    try:
        document = json.loads(body, object_pairs_hook=_Members)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequestError("The request body is not valid JSON.") from exc
    if not isinstance(document, _Members):
        raise InvalidRequestError("The JSON body must be an object.")
    params: dict[str, list[str]] = {}
    for key, value in document:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = json.dumps(value)
        elif not isinstance(value, str):
            raise InvalidRequestError(f"Parameter '{safe_echo(key)}' must be a string.")
        if not (_is_utf8(key) and _is_utf8(value)):
            raise InvalidRequestError("The request body is not valid JSON.")
        params.setdefault(key, []).append(value)
    return params


def _from_query(text: bytes | str) -> dict[str, list[str]]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError("The request body is not UTF-8.") from exc
    params: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError("The request parameters could not be decoded.") from exc
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def safe_echo(text: str) -> str:
    """Echo only printable ASCII back in an error description (RFC 6749 §5.2)."""
    return "".join(c for c in text[:64] if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


# Authlib echoes these into error descriptions, which may only hold printable ASCII without
# '"' or '\\' (RFC 6749 §5.2; Authlib raises otherwise); their grammars allow nothing else.
ECHOED_PARAMS = ("response_type", "redirect_uri")
_DESCRIPTION_CHARS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def check_params(params: dict[str, list[str]], *, allow_repeats: bool = False) -> None:
    for key, values in params.items():
        if not allow_repeats and len(values) > 1:
            raise InvalidRequestError(f"Parameter '{safe_echo(key)}' is repeated.")
        if any(len(v) > MAX_PARAM_LENGTH for v in values):
            raise InvalidRequestError(f"Parameter '{safe_echo(key)}' is too long.")
        if key in ECHOED_PARAMS and not all(_DESCRIPTION_CHARS.fullmatch(v) for v in values):
            raise InvalidRequestError(f"Parameter '{key}' is malformed.")


async def read_params(request: Request, limit: int) -> dict[str, list[str]]:
    """Query parameters merged with the body's (form or JSON) for POST requests."""
    params = _from_query(request.url.query)
    if request.method == "POST":
        body = await read_body(request, limit)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            body_params = _from_json(body) if body else {}
        elif content_type in ("application/x-www-form-urlencoded", ""):
            body_params = _from_query(body)
        else:
            raise InvalidRequestError("Use application/x-www-form-urlencoded or application/json.")
        for key, values in body_params.items():
            params.setdefault(key, []).extend(values)
    if any("\x00" in key or any("\x00" in v for v in values) for key, values in params.items()):
        raise InvalidRequestError("The request parameters contain a NUL character.")
    return params


def first_values(params: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[0] for key, values in params.items() if values}
