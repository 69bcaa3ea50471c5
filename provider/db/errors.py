"""Database errors the store handles itself, named once for both dialects."""

from __future__ import annotations

import sqlite3

from asyncpg.exceptions import (
    ConnectionDoesNotExistError,
    ObjectNotInPrerequisiteStateError,
    OperatorInterventionError,
    PostgresConnectionError,
    UniqueViolationError,
)

# Raised when an INSERT loses a race on a primary key or unique constraint.
DUPLICATE_KEY = (sqlite3.IntegrityError, UniqueViolationError)

# The database is unreachable or restarting: worth a retry by the client, not a bug.
UNAVAILABLE = (
    ConnectionError,
    OSError,
    OperatorInterventionError,  # shutting down, starting up, connection terminated
    ObjectNotInPrerequisiteStateError,  # "database is not currently accepting connections"
    ConnectionDoesNotExistError,
    PostgresConnectionError,
    sqlite3.OperationalError,
)
