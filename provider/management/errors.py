"""What an operation refuses with; each front door shows it in its own shape."""

from __future__ import annotations


class OperationError(ValueError):
    """The request cannot be carried out; the message says why, for the operator."""

    status = 400


class NotFound(OperationError):
    status = 404


class Conflict(OperationError):
    status = 409
