"""Checking what goes into mail headers: no CR/LF (header injection), sane addresses."""

from __future__ import annotations

import re
from email.utils import getaddresses

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
    # One recipient only: SMTP clients take recipients from the header as getaddresses() reads
    # it, so 'a@b.c, x@y.z' (which parseaddr reads as just a@b.c) would add a hidden recipient.
    found = getaddresses([value])
    address = found[0][1] if len(found) == 1 else ""
    if not ADDRESS.fullmatch(address):
        raise BadHeader(f"not an email address: {value[:80]!r}")
    return value
