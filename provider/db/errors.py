"""Database errors the store handles itself, named once for both dialects."""

from __future__ import annotations

import sqlite3

from asyncpg.exceptions import UniqueViolationError

# Raised when an INSERT loses a race on a primary key or unique constraint.
DUPLICATE_KEY = (sqlite3.IntegrityError, UniqueViolationError)
