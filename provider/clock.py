"""The one place provider reads the time, so tests and plugins share a notion of 'now'."""

from __future__ import annotations

import time


def now() -> int:
    """Unix time in whole seconds (what the schema and JWT claims use)."""
    return int(time.time())
