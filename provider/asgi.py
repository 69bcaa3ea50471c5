"""The ASGI entry point uvicorn workers import: settings come from the environment."""

from __future__ import annotations

from provider.app import create_app
from provider.settings import load_settings

app = create_app(load_settings(), migrate=False)
