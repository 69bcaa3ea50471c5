"""Guardian: MFA factors and the MFA policy."""

from __future__ import annotations

from typing import Any

from provider.management.api.errors import ApiProblem
from provider.management.api.framework import Call, Endpoint
from provider.management.api.schema import BOOLEAN, body
from provider.management.operations import operations

FACTOR = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "enabled": {"type": "boolean"},
        "trial_expired": {"type": "boolean"},
    },
}
POLICIES = {"type": "array", "items": {"type": "string", "enum": ["all-applications"]}}
SETTINGS = {"type": "object", "additionalProperties": True}


async def list_factors(call: Call) -> Any:
    return [state.public() for state in await operations(call.app).mfa.factors()]


async def put_factor(call: Call) -> Any:
    await operations(call.app).mfa.set_enabled(call.path("name"), call.body["enabled"], call.actor)
    return {"enabled": call.body["enabled"]}


async def _factor(call: Call) -> Any:
    name = call.path("name")
    for state in await operations(call.app).mfa.factors():
        if state.name == name:
            return state
    raise ApiProblem(404, f"No factor named {name[:64]}")


async def get_factor_settings(call: Call) -> Any:
    return (await _factor(call)).settings


async def patch_factor_settings(call: Call) -> Any:
    await _factor(call)
    return await operations(call.app).mfa.set_settings(call.path("name"), call.body, call.actor)


async def get_policies(call: Call) -> Any:
    return ["all-applications"] if await operations(call.app).mfa.policy() == "always" else []


async def put_policies(call: Call) -> Any:
    policy = "always" if call.body == ["all-applications"] else "never" if call.body == [] else None
    if policy is None:
        raise ApiProblem(400, 'Payload validation error: use [] or ["all-applications"]')
    await operations(call.app).mfa.set_policy(policy, call.actor)
    return call.body


ENDPOINTS = [
    Endpoint(
        "GET",
        "/guardian/factors",
        "read:guardian_factors",
        list_factors,
        "List the MFA factors and whether each is enabled",
        response_schema={"type": "array", "items": FACTOR},
    ),
    Endpoint(
        "PUT",
        "/guardian/factors/{name}",
        "update:guardian_factors",
        put_factor,
        "Enable or disable a factor (a dependent factor such as email needs an independent "
        "one enabled)",
        request_schema=body({"enabled": BOOLEAN}, ("enabled",)),
        response_schema=body({"enabled": BOOLEAN}),
    ),
    Endpoint(
        "GET",
        "/guardian/factors/{name}/settings",
        "read:guardian_factors",
        get_factor_settings,
        "A factor's settings (provider's addition)",
        response_schema=SETTINGS,
    ),
    Endpoint(
        "PATCH",
        "/guardian/factors/{name}/settings",
        "update:guardian_factors",
        patch_factor_settings,
        "Change some of a factor's settings, e.g. the email code_lifetime (provider's addition)",
        request_schema=SETTINGS,
        response_schema=SETTINGS,
    ),
    Endpoint(
        "GET",
        "/guardian/policies",
        "read:mfa_policies",
        get_policies,
        'The MFA policy: [] (never) or ["all-applications"] (always)',
        response_schema=POLICIES,
    ),
    Endpoint(
        "PUT",
        "/guardian/policies",
        "update:mfa_policies",
        put_policies,
        'Set the MFA policy: [] (never) or ["all-applications"] (always)',
        request_schema=POLICIES,
        response_schema=POLICIES,
    ),
]
