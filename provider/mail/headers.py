"""Checking what goes into mail headers: no CR/LF (header injection), sane addresses."""

from __future__ import annotations

import re
from email.utils import parseaddr

ADDRESS = re.compile(r"[^@\s<>\"(),;:\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


class BadHeader(ValueError):
    """A header value that must not be sent."""


def check_header(value: str, *, max_length: int = 998) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise BadHeader("header values may not contain line breaks")
    if len(value) > max_length:
        raise BadHeader(f"header values may have at most {max_length} characters")
    return value


def check_address(value: str) -> str:
    """A bare address or 'Name <address>', with the address part strictly checked."""
    check_header(value, max_length=320)
    _, address = parseaddr(value)
    if not ADDRESS.fullmatch(address):
        raise BadHeader(f"not an email address: {value[:80]!r}")
    return value


def mask_address(address: str) -> str:
    """'chuck@example.com' -> 'chuc****@exam*******' (Auth0's style): enough to recognise."""
    local, _, domain = address.partition("@")
    keep_local = max(1, min(4, len(local) // 2))
    keep_domain = max(1, min(4, len(domain) // 3))
    return (
        local[:keep_local]
        + "*" * (len(local) - keep_local)
        + "@"
        + domain[:keep_domain]
        + "*" * (len(domain) - keep_domain)
    )
