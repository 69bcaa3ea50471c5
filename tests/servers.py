"""Real provider servers for tests: `provider serve` in a subprocess on a free loopback port,
with its own data directory and database (SQLite, or a fresh PostgreSQL database when
PROVIDER_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

POSTGRES_URL = os.environ.get("PROVIDER_TEST_DATABASE_URL", "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _postgres(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _execute_on(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_postgres_database() -> str:
    name = f"provider_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class ProviderServer:
    data_dir: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"
    process: subprocess.Popen[bytes] | None = None
    database_url: str = ""

    @property
    def issuer(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        return self.issuer.rstrip("/")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_")}
        env.update(
            PROVIDER_DATA_DIR=str(self.data_dir),
            PROVIDER_ISSUER=self.issuer,
            PROVIDER_LOG_LEVEL="warning",
        )
        if self.database_url:
            env["PROVIDER_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "provider.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"provider {' '.join(args)} failed: {result.stderr}")
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def start(self, *serve_args: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "provider.cli", "serve", "--port", str(self.port), *serve_args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                answer = httpx.get(self.base_url + "/healthz", timeout=2, verify=False)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def execute_sql(self, statement: str) -> None:
        """Run one SQL statement on the server's database. Tests use it to age rows (an
        expired code or mfa_token) instead of sleeping through real lifetimes."""
        if self.database_url:
            asyncio.run(_execute_on(self.database_url, statement))
            return
        import sqlite3

        with sqlite3.connect(self.data_dir / "provider.db") as connection:
            connection.execute(statement)

    def log(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def new_server(data_dir: Path, **extra_env: str) -> ProviderServer:
    server = ProviderServer(data_dir=data_dir, port=free_port(), extra_env=dict(extra_env))
    if POSTGRES_URL:
        server.database_url = create_postgres_database()
    return server


def dispose(server: ProviderServer) -> None:
    server.stop()
    if server.database_url and POSTGRES_URL:
        drop_postgres_database(server.database_url)


def public_client(server: ProviderServer, redirect_uri: str, name: str = "spa") -> str:
    """A first-party public client (PKCE, no consent) with one redirect URI; its client_id."""
    return server.cli_json(
        "clients",
        "create",
        "--name",
        name,
        "--public",
        "--first-party",
        "--redirect-uri",
        redirect_uri,
    )["client_id"]
