"""Applying the Alembic migrations (`provider migrate`, and `provider serve` at start-up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from provider.db.database import normalise_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def sqlalchemy_async_url(url: str) -> str:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return url.replace("sqlite://", "sqlite+aiosqlite://", 1)
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_async_url(database_url))
    return config


def _upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def upgrade(database_url: str) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    _upgrade(database_url)


async def upgrade_async(database_url: str) -> None:
    # Alembic's env.py runs its own event loop, so it must not run on this one.
    await asyncio.to_thread(_upgrade, database_url)
