"""Ready-made settings for well-known upstream providers (`connections create --preset`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    issuer: str
    scopes: tuple[str, ...]
    display_name: str
    trust_email_verified: bool


PRESETS = {
    # Google verifies the addresses it marks email_verified (its own and proven ones).
    "google": Preset(
        issuer="https://accounts.google.com",
        scopes=("openid", "email", "profile"),
        display_name="Google",
        trust_email_verified=True,
    ),
}
DEFAULT_SCOPES = ("openid", "email", "profile")
