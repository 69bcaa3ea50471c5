"""The Management API under /api/v2 (an Auth0-compatible subset): a table of endpoints
(`routes.py`) from which both the Starlette routes and the OpenAPI document are built."""
