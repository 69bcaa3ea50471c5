"""The email provider and email templates."""

from __future__ import annotations

from typing import Any

from provider.management.api.errors import ApiProblem
from provider.management.api.framework import Call, Endpoint
from provider.management.api.schema import BOOLEAN, INTEGER, NULLABLE_STRING, STRING, body
from provider.management.operations import operations

CREDENTIALS = body(
    {
        "smtp_host": STRING,
        "smtp_port": INTEGER,
        "smtp_user": NULLABLE_STRING,
        "smtp_pass": NULLABLE_STRING,
        "smtp_tls": {"type": "string", "enum": ["none", "starttls", "tls"]},
    }
)
PROVIDER_FIELDS = {
    "name": {"type": "string", "enum": ["smtp"]},
    "enabled": BOOLEAN,
    "default_from_address": NULLABLE_STRING,
    "credentials": CREDENTIALS,
}
PROVIDER = {
    "type": "object",
    "properties": {
        **PROVIDER_FIELDS,
        "credentials": body(
            {k: v for k, v in CREDENTIALS["properties"].items() if k != "smtp_pass"}
        ),
    },
}
CHECK = body({**PROVIDER_FIELDS, "to": STRING})
TEMPLATE_FIELDS = {
    "template": STRING,
    "subject": STRING,
    "body": STRING,
    "text": STRING,
    "from": NULLABLE_STRING,
    "syntax": {"type": "string", "enum": ["jinja2"]},
    "enabled": BOOLEAN,
}
TEMPLATE = body(TEMPLATE_FIELDS)
PREVIEW = body({"subject": STRING, "body": STRING, "text": STRING})
TEMPLATE_NAME = ("template", {"type": "string", "enum": ["mfa_oob_code", "verify_email"]})


async def get_provider(call: Call) -> Any:
    provider = await operations(call.app).email.provider()
    if provider is None:
        raise ApiProblem(404, "No email provider is configured", "inexistent_email_provider")
    return provider.public()


async def create_provider(call: Call) -> Any:
    email = operations(call.app).email
    if await email.provider() is not None:
        raise ApiProblem(409, "An email provider is already configured: use PATCH")
    if "credentials" not in call.body:
        raise ApiProblem(400, "Payload validation error: Missing required property: credentials")
    return (await email.set_provider(call.body, call.actor, partial=False)).public()


async def patch_provider(call: Call) -> Any:
    return (
        await operations(call.app).email.set_provider(call.body, call.actor, partial=True)
    ).public()


async def delete_provider(call: Call) -> None:
    await operations(call.app).email.delete_provider(call.actor)


async def check_provider(call: Call) -> Any:
    """Connect (and log in) with the given or the stored configuration; with `to`, also queue
    a test message through the stored one."""
    email = operations(call.app).email
    values = {k: v for k, v in call.body.items() if k != "to"}
    result = await email.check_provider(values or None)
    answer: dict[str, Any] = {"ok": result.ok, "message": result.message}
    if call.body.get("to"):
        answer["message_id"] = await email.send_test(call.body["to"], call.actor)
    return answer


async def get_template(call: Call) -> Any:
    return (await operations(call.app).email.template(call.path("template"))).public()


async def patch_template(call: Call) -> Any:
    changes = {k: v for k, v in call.body.items() if k not in ("template", "syntax")}
    if call.body.get("template", call.path("template")) != call.path("template"):
        raise ApiProblem(400, "Payload validation error: template does not match the path")
    state = await operations(call.app).email.update_template(
        call.path("template"), changes, call.actor
    )
    return state.public()


async def reset_template(call: Call) -> Any:
    return (
        await operations(call.app).email.reset_template(call.path("template"), call.actor)
    ).public()


async def preview_template(call: Call) -> Any:
    return await operations(call.app).email.preview(call.path("template"), call.body)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/emails/provider",
        "read:email_provider",
        get_provider,
        "The email provider (the SMTP password is never returned)",
        response_schema=PROVIDER,
    ),
    Endpoint(
        "POST",
        "/emails/provider",
        "create:email_provider",
        create_provider,
        "Configure the email provider",
        request_schema=body(PROVIDER_FIELDS, ("credentials",)),
        response_schema=PROVIDER,
        status=201,
    ),
    Endpoint(
        "PATCH",
        "/emails/provider",
        "update:email_provider",
        patch_provider,
        "Change the email provider",
        request_schema=body(PROVIDER_FIELDS),
        response_schema=PROVIDER,
    ),
    Endpoint(
        "DELETE",
        "/emails/provider",
        "delete:email_provider",
        delete_provider,
        "Remove the email provider (mail goes back to PROVIDER_SMTP_URL or the test provider)",
        status=204,
    ),
    Endpoint(
        "POST",
        "/emails/provider/test",
        "update:email_provider",
        check_provider,
        "Check a configuration by connecting to it; with `to`, send a test message "
        "(provider's addition)",
        request_schema=CHECK,
        body_optional=True,
        response_schema=body({"ok": BOOLEAN, "message": STRING, "message_id": STRING}),
    ),
    Endpoint(
        "GET",
        "/email-templates/{template}",
        "read:email_templates",
        get_template,
        "An email template (the built-in one until changed)",
        response_schema=TEMPLATE,
    ),
    Endpoint(
        "PATCH",
        "/email-templates/{template}",
        "update:email_templates",
        patch_template,
        "Change an email template (rendered in a sandbox; checked before saving)",
        request_schema=TEMPLATE,
        response_schema=TEMPLATE,
    ),
    Endpoint(
        "PUT",
        "/email-templates/{template}",
        "update:email_templates",
        patch_template,
        "Replace an email template",
        request_schema=TEMPLATE,
        response_schema=TEMPLATE,
    ),
    Endpoint(
        "DELETE",
        "/email-templates/{template}",
        "update:email_templates",
        reset_template,
        "Reset an email template to the built-in one (provider's addition)",
        response_schema=TEMPLATE,
    ),
    Endpoint(
        "POST",
        "/email-templates/{template}/preview",
        "read:email_templates",
        preview_template,
        "Render a template (or a draft of it) with sample data (provider's addition)",
        request_schema=PREVIEW,
        body_optional=True,
        response_schema=PREVIEW,
    ),
]
