"""`provider connections create | list | delete` and `provider users show`: presets, the
callback URL to register upstream, issuer rules, and the client secret sealed at rest."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import POSTGRES_URL, ProviderServer, dispose, new_server


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[ProviderServer]:
    server = new_server(tmp_path / "data")  # CLI only: never started
    yield server
    dispose(server)


def test_google_preset_prints_the_callback_url(offline: ProviderServer) -> None:
    text = offline.cli(
        "connections", "create", "--name", "google", "--preset", "google",
        "--client-id", "id-1.apps.googleusercontent.com", "--client-secret", "GOCSPX-secret",
    ).stdout  # fmt: skip
    assert f"{offline.issuer}login/callback" in text
    [shown] = offline.cli_json("connections", "list")
    assert shown["issuer"] == "https://accounts.google.com"
    assert shown["scopes"] == ["openid", "email", "profile"]
    assert shown["trust_email_verified"] is True and shown["allow_linking"] is False
    assert shown["display_name"] == "Google"
    assert shown["callback_url"] == offline.issuer + "login/callback"
    assert "client_secret" not in shown and "GOCSPX-secret" not in str(shown)


def test_generic_connection_defaults_and_options(offline: ProviderServer) -> None:
    shown = offline.cli_json(
        "connections", "create", "--name", "corp", "--issuer", "https://id.corp.example/",
        "--client-id", "c", "--client-secret", "s", "--scope", "email",
        "--display-name", "Corp SSO", "--allow-linking",
    )  # fmt: skip
    assert shown["scopes"] == ["openid", "email"]  # openid always
    assert shown["trust_email_verified"] is False  # off unless said (or the Google preset)
    assert shown["allow_linking"] is True and shown["display_name"] == "Corp SSO"
    untrusting = offline.cli_json(
        "connections", "create", "--name", "g2", "--preset", "google",
        "--no-trust-email-verified", "--client-id", "c", "--client-secret", "s",
    )  # fmt: skip
    assert untrusting["trust_email_verified"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--issuer", "http://idp.example/"], "only on loopback"),
        (["--name", "x", "--issuer", "ftp://idp.example/"], "https://"),
        (["--name", "x", "--issuer", "https://idp.example/?a=1"], "query"),
        (["--name", "Bad Name", "--issuer", "https://idp.example/"], "--name"),
        (["--name", "x"], "--issuer"),
    ],
)
def test_bad_connections_refused(offline: ProviderServer, args: list[str], message: str) -> None:
    result = offline.cli(
        "connections", "create", *args, "--client-id", "c", "--client-secret", "s", check=False
    )
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_duplicate_name_and_delete(offline: ProviderServer) -> None:
    base = ["--issuer", "https://idp.example/", "--client-id", "c", "--client-secret", "s"]
    offline.cli("connections", "create", "--name", "idp", *base)
    again = offline.cli("connections", "create", "--name", "idp", *base, check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert offline.cli_json("connections", "delete", "idp") == {"deleted": "idp"}
    assert offline.cli_json("connections", "list") == []
    missing = offline.cli("connections", "delete", "idp", check=False)
    assert missing.returncode != 0 and "no connection" in missing.stderr


@pytest.mark.skipif(bool(POSTGRES_URL), reason="reads the SQLite file")
def test_client_secret_is_sealed_at_rest(offline: ProviderServer) -> None:
    secret = "very-secret-upstream-client-secret-123"
    offline.cli(
        "connections", "create", "--name", "idp", "--issuer", "https://idp.example/",
        "--client-id", "c", "--client-secret", secret,
    )  # fmt: skip
    database = sqlite3.connect(offline.data_dir / "provider.db")
    try:
        [(sealed,)] = database.execute("SELECT client_secret_sealed FROM connections").fetchall()
    finally:
        database.close()
    assert secret not in sealed
    for path in offline.data_dir.glob("provider.db*"):  # the database and its WAL
        assert secret.encode() not in path.read_bytes()


def test_users_show_without_identities(offline: ProviderServer) -> None:
    created = offline.cli_json(
        "users", "create", "--email", "sam@example.com", "--password", "password-123"
    )
    by_email = offline.cli_json("users", "show", "sam@example.com")
    by_id = offline.cli_json("users", "show", created["user_id"])
    assert by_email == by_id and by_email["identities"] == []
    assert "no upstream identities" in offline.cli("users", "show", "sam@example.com").stdout
    missing = offline.cli("users", "show", "nobody@example.com", check=False)
    assert missing.returncode != 0 and "no user" in missing.stderr
