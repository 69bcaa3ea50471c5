"""The Management API's audience and scopes, named as Auth0 names them."""

from __future__ import annotations

MANAGEMENT_SCOPES = (
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "update:client_keys",
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:guardian_factors",
    "update:guardian_factors",
    "read:mfa_policies",
    "update:mfa_policies",
    "read:guardian_enrollments",
    "delete:guardian_enrollments",
    "read:email_provider",
    "create:email_provider",
    "update:email_provider",
    "delete:email_provider",
    "read:email_templates",
    "create:email_templates",
    "update:email_templates",
    "read:logs",
)


def management_audience(issuer: str) -> str:
    return issuer + "api/v2/"
