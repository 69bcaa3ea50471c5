"""The MFA API: GET /mfa/authenticators, POST /mfa/associate, POST /mfa/challenge and
DELETE /mfa/authenticators/{id}. Handlers translate HTTP into MFA engine calls."""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2.base import OAuth2Error
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from provider.context import AppContext, ctx
from provider.mfa.api import Authenticator, EnrollmentError
from provider.mfa.context import current_client_address
from provider.mfa.engine import can_stand_alone
from provider.mfa_api.bearer import Caller, caller
from provider.mfa_api.clients import authenticate_client
from provider.mfa_api.errors import NO_STORE, ApiError, error
from provider.mfa_api.mfa_token import resolve_mfa_token
from provider.mfa_api.oob_codes import OobCode, issue_oob_code
from provider.oauth.params import check_params, first_values, read_body, read_params
from provider.oauth.responses import error_response

CHALLENGE_TYPES = ("otp", "oob")


def _note_client(request: Request) -> None:
    current_client_address.set(request.client.host if request.client else None)


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def authenticator_body(authenticator: Authenticator) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": authenticator.id,
        "authenticator_type": authenticator.authenticator_type,
        "active": authenticator.active,
    }
    if authenticator.oob_channel:
        body["oob_channel"] = authenticator.oob_channel
        # Auth0's SDKs read the plural form; both are sent.
        body["oob_channels"] = [authenticator.oob_channel]
    if authenticator.name and authenticator.authenticator_type == "oob":
        body["name"] = authenticator.name
    return body


async def list_authenticators(request: Request) -> Response:
    app = ctx(request)
    try:
        who = await caller(app, request, "read:authenticators", allow_mfa_token=True)
    except ApiError as exc:
        return exc.response()
    return _json([authenticator_body(a) for _, a in await app.mfa.listed(who.user)])


async def delete_authenticator(request: Request) -> Response:
    app = ctx(request)
    try:
        who = await caller(app, request, "remove:authenticators", allow_mfa_token=False)
        authenticator_id = request.path_params["authenticator_id"]
        found = {a.id: (f, a) for f, a in await app.mfa.listed(who.user)}
        if authenticator_id not in found:
            raise error("authenticator_not_found")
        factor, authenticator = found[authenticator_id]
        if authenticator.implicit:
            raise error("authenticator_undeletable")
        row = await factor.context.authenticators.get(authenticator_id)
        if row is None or row.user_id != who.user.id:
            raise error("authenticator_not_found")
        await factor.context.authenticators.delete(authenticator_id)
    except ApiError as exc:
        return exc.response()
    return Response(status_code=204, headers=NO_STORE)


async def _associate_body(request: Request) -> dict[str, Any]:
    app = ctx(request)
    raw = await read_body(request, app.settings.max_body_bytes)
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise error("bad_json") from exc
    if not isinstance(body, dict):
        raise error("bad_json")
    return body


def _string_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


async def associate(request: Request) -> Response:
    app = ctx(request)
    _note_client(request)
    try:
        who = await caller(app, request, "enroll", allow_mfa_token=True)
        body = await _associate_body(request)
        types = _string_list(body.get("authenticator_types"))
        channels = _string_list(body.get("oob_channels")) or []
        if types == ["otp"]:
            answer = await _associate_otp(app, who)
        elif types == ["oob"] and channels == ["email"]:
            address = body.get("email")
            if address is not None and not isinstance(address, str):
                raise error("unsupported_authenticator_type")
            answer = await _associate_email(app, who, (address or who.user.email)[:320])
        else:
            raise error("unsupported_authenticator_type")
    except ApiError as exc:
        return exc.response()
    except OAuth2Error as exc:  # an oversized body
        return error_response(exc)
    except EnrollmentError as exc:
        return ApiError(400, "invalid_request", str(exc)).response()
    return _json(answer)


async def _refuse_if_enrolled(app: AppContext, who: Caller) -> None:
    # An mfa_token proves only the password: it may enroll the first authenticator, never
    # another one (that takes an access token from a completed MFA).
    if who.tx is not None and await app.mfa.has_independent(who.user):
        raise error("already_enrolled")


async def _associate_otp(app: AppContext, who: Caller) -> dict[str, Any]:
    await _refuse_if_enrolled(app, who)
    factor = next((f for f in await app.mfa.enrollable() if f.authenticator_type == "otp"), None)
    if factor is None:
        raise error("unsupported_authenticator_type")
    recovery = await app.mfa.provision_for_first(who.user)
    if who.tx is not None:
        enrollment = await app.mfa.begin_enrollment(who.tx.id, who.user, factor.id)
    else:
        enrollment = await app.mfa.begin_pending_enrollment(who.user, factor.id)
    answer: dict[str, Any] = {
        "authenticator_type": "otp",
        "secret": enrollment.secret,
        "barcode_uri": enrollment.uri,
    }
    if recovery:
        answer["recovery_codes"] = recovery
    return answer


async def _associate_email(app: AppContext, who: Caller, address: str) -> dict[str, Any]:
    await _refuse_if_enrolled(app, who)
    factor = app.mfa.factor("email")
    if factor is None or "email" not in await app.mfa.enabled_ids():
        raise error("unsupported_authenticator_type")
    if who.tx is not None and not can_stand_alone(factor):
        # Email may not be a user's only second factor unless the operator said so.
        raise ApiError(
            400,
            "invalid_request",
            "Email codes can only be added alongside another factor such as an authenticator app.",
        )
    recovery = await app.mfa.provision_for_first(who.user)
    if who.tx is not None:
        pending = await app.mfa.begin_address_enrollment(who.tx.id, who.user, address)
    else:
        pending = await app.mfa.begin_pending_address(who.user, address)
    answer: dict[str, Any] = {
        "authenticator_type": "oob",
        "binding_method": "prompt",
        "oob_channel": "email",
        "oob_code": issue_oob_code(app.box, OobCode(who.user.id, pending, None)),
    }
    if recovery:
        answer["recovery_codes"] = recovery
    return answer


async def challenge(request: Request) -> Response:
    app = ctx(request)
    _note_client(request)
    try:
        params = await read_params(request, app.settings.max_body_bytes)
        check_params(params)
        client = await authenticate_client(
            app, request.method, str(request.url), request.headers, params
        )
        values = first_values(params)
        tx, user = await resolve_mfa_token(
            app.store, app.box, values.get("mfa_token"), client.client_id
        )
        types = (values.get("challenge_type") or " ".join(CHALLENGE_TYPES)).split()
        if not set(types) <= set(CHALLENGE_TYPES):
            raise error("unsupported_challenge_type")
        usable = await app.mfa.usable(user)
        if not usable:
            raise error("association_required")
        wanted = values.get("authenticator_id")
        candidates = [
            (f, a)
            for f, a in usable
            if a.authenticator_type in types and (not wanted or a.id == wanted)
        ]
        if not candidates:
            if wanted and wanted not in {a.id for _, a in usable}:
                raise error("unknown_authenticator")
            raise error("unsupported_challenge_type")
        factor, authenticator = await app.mfa.choose(user, candidates, wanted)
        if authenticator.authenticator_type == "otp":
            await app.mfa.select(tx.id, user, authenticator)
            return _json({"challenge_type": "otp"})
        sent = await app.mfa.challenge(tx.id, user, factor, authenticator)
        if sent.details.get("sent") is False:
            # The send limits, or the resend cooldown: no new code went out.
            raise error("too_many_emails")
        code = issue_oob_code(app.box, OobCode(user.id, authenticator.id, tx.id))
        return _json({"challenge_type": "oob", "oob_code": code, "binding_method": "prompt"})
    except ApiError as exc:
        return exc.response()
    except EnrollmentError:
        return error("unknown_authenticator").response()
    except OAuth2Error as exc:
        return error_response(exc)
