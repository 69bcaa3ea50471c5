"""Opening the database through `databases`, with what each dialect needs to behave alike.

SQLite: the `databases` backend opens a fresh aiosqlite connection (and thread) for every query;
`_ReusingSQLitePool` keeps a few open instead, each set up with a busy timeout so concurrent
writers wait rather than fail, and the file runs in WAL mode so readers never block writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
from databases import Database
from databases.backends.sqlite import SQLitePool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """The URL for `databases` (which picks aiosqlite / asyncpg itself)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url.replace("+aiosqlite", "").replace("+asyncpg", "")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_file_problem(url: str) -> str | None:
    """Why a SQLite database file cannot be opened, checked before any driver tries (a failed
    aiosqlite connect can print a thread traceback on the way out)."""
    if not is_sqlite(url):
        return None
    path = Path(urlsplit(normalise_url(url)).path)
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        return "unable to open database file"
    return None


class _ReusingSQLitePool(SQLitePool):
    def __init__(self, base: SQLitePool, size: int = 8, limit: int = 32) -> None:
        self.__dict__.update(base.__dict__)
        self._idle: list[aiosqlite.Connection] = []
        self._size = size
        self._open = asyncio.Semaphore(limit)  # each connection is a thread: bound them

    async def acquire(self) -> aiosqlite.Connection:
        await self._open.acquire()
        try:
            return await self._take()
        except BaseException:
            self._open.release()
            raise

    async def _take(self) -> aiosqlite.Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection._running and connection._connection is not None:
                return connection
        connection = aiosqlite.connect(
            database=self._database, isolation_level=None, **self._options
        )
        await connection.__aenter__()
        await connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        await connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    async def release(self, connection: aiosqlite.Connection) -> None:
        try:
            if connection.in_transaction:
                # A transaction left open by a cancelled task must not leak into the next user.
                await connection.rollback()
            if len(self._idle) < self._size:
                self._idle.append(connection)
            else:
                await connection.__aexit__(None, None, None)
        finally:
            self._open.release()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(c.close() for c in idle), return_exceptions=True)


_write_locks: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def write_transaction(database: Database) -> AsyncIterator[None]:
    """A transaction that writes. On SQLite only one writer can hold the lock; writers of this
    process queue on an asyncio lock instead of polling in SQLite's busy handler (which sleeps
    up to 100 ms between tries and made refresh p99 reach seconds under load)."""
    lock = _write_locks.get(database)
    if lock is None:
        async with database.transaction():
            yield
        return
    async with lock, database.transaction():
        yield


async def open_database(url: str) -> Database:
    url = normalise_url(url)
    options: dict[str, Any] = {}
    if not is_sqlite(url):
        options = {"min_size": 1, "max_size": 10}
    database = Database(url, **options)
    if is_sqlite(url):
        backend: Any = database._backend
        backend._pool = _ReusingSQLitePool(backend._pool)
    await database.connect()
    if is_sqlite(url):
        await database.execute("PRAGMA journal_mode = WAL")
        _write_locks[database] = asyncio.Lock()
    return database


async def close_database(database: Database) -> None:
    await database.disconnect()
    pool = getattr(database._backend, "_pool", None)
    if isinstance(pool, _ReusingSQLitePool):
        await pool.close()
