"""HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1, 6 digits and 30-second steps: what every
authenticator app understands."""

from __future__ import annotations

import hashlib
import hmac
import struct

DIGITS = 6
PERIOD = 30


def hotp_code(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    """The HOTP value of `counter`: HMAC-SHA1, then RFC 4226's dynamic truncation."""
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    (value,) = struct.unpack(">I", digest[offset : offset + 4])
    return str((value & 0x7FFFFFFF) % 10**digits).zfill(digits)


def time_step(for_time: int, step: int = PERIOD) -> int:
    """The RFC 6238 time counter T = floor(unix time / step)."""
    return int(for_time) // step


def totp_code(secret: bytes, for_time: int, step: int = PERIOD) -> str:
    """The 6-digit TOTP code valid at unix time `for_time`."""
    return hotp_code(secret, time_step(for_time, step))


def matching_step(
    secret: bytes, code: str, for_time: int, window: int, step: int = PERIOD
) -> int | None:
    """The time step within ±`window` steps of `for_time` whose code is `code`, or None.

    Every candidate is compared (in constant time) so the duration does not tell which step
    matched; with a 6-digit code two steps can collide, and then the latest one wins, which
    keeps the replay counter as high as possible.
    """
    now_step = time_step(for_time, step)
    found = None
    for candidate in range(now_step - window, now_step + window + 1):
        if hmac.compare_digest(hotp_code(secret, candidate), code):
            found = candidate
    return found
