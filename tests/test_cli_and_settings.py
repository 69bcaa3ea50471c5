"""The operator CLI (users, clients, keys) and configuration (TOML file < environment), run as
real subprocesses; a bad setting always ends in one line on stderr that names it."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provider.settings import SettingsError, load_settings
from tests.servers import ProviderServer, dispose, free_port, new_server

ALNUM = re.compile(r"^[A-Za-z0-9]+$")


@pytest.fixture
def cli(tmp_path: Path) -> ProviderServer:
    """A provider that is never started: only its CLI is used, on a fresh data directory."""
    return ProviderServer(data_dir=tmp_path / "data", port=free_port())


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one non-empty line on stderr and no traceback."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return lines[0]


# -- users ----------------------------------------------------------------------------------
def test_users_create_and_list(cli: ProviderServer) -> None:
    """`users create` stores a user (email lower-cased) and `users list --json` shows it, with
    no password material."""
    created = cli.cli_json(
        "users",
        "create",
        "--email",
        "Alice@Example.COM",
        "--password",
        "correct horse battery",
        "--name",
        "Alice",
    )
    assert created["email"] == "alice@example.com"
    assert created["name"] == "Alice"
    text = cli.cli(
        "users",
        "create",
        "--email",
        "bob@example.com",
        "--password",
        "another good one",
        "--email-verified",
    ).stdout
    assert "bob@example.com" in text

    listed = cli.cli_json("users", "list")
    by_email = {u["email"]: u for u in listed}
    assert set(by_email) == {"alice@example.com", "bob@example.com"}
    assert by_email["alice@example.com"] == created
    assert by_email["bob@example.com"]["email_verified"] is True
    raw = cli.cli("users", "list", "--json").stdout
    assert "argon2" not in raw and "password" not in raw
    assert "correct horse battery" not in raw


@pytest.mark.parametrize("again", ["carol@example.com", "CAROL@example.com", " carol@example.com "])
def test_duplicate_email_is_one_clear_line(cli: ProviderServer, again: str) -> None:
    """A second user with the same email (any case) fails with one line, and adds nobody."""
    cli.cli("users", "create", "--email", "carol@example.com", "--password", "first password")
    result = cli.cli(
        "users", "create", "--email", again, "--password", "second password", check=False
    )
    line = one_line_failure(result)
    assert "already exists" in line
    assert len(cli.cli_json("users", "list")) == 1


@pytest.mark.parametrize(
    ("email", "password", "expected"),
    [
        ("not-an-email", "long enough password", "email"),
        ("dave@example.com", "short", "password"),
        ("dave@example.com", "", "password"),
    ],
)
def test_users_create_refuses_bad_input(
    cli: ProviderServer, email: str, password: str, expected: str
) -> None:
    """An invalid email or a weak password is one line naming the problem."""
    result = cli.cli("users", "create", "--email", email, "--password", password, check=False)
    assert expected in one_line_failure(result).lower()
    assert cli.cli_json("users", "list") == []


# -- clients --------------------------------------------------------------------------------
def test_confidential_client_shows_its_secret_once(cli: ProviderServer) -> None:
    """A confidential client's secret is printed at creation (alphanumeric, ≥ 32 characters)
    and never again; the defaults are the code flow with refresh tokens."""
    created = cli.cli_json(
        "clients", "create", "--name", "Web app", "--redirect-uri", "https://rp.example/cb"
    )
    assert ALNUM.match(created["client_id"])
    secret = created["client_secret"]
    assert ALNUM.match(secret) and len(secret) >= 32
    assert created["is_public"] is False and created["first_party"] is False
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert created["redirect_uris"] == ["https://rp.example/cb"]

    text = cli.cli(
        "clients", "create", "--name", "Other", "--redirect-uri", "https://rp.example/cb"
    ).stdout
    shown = re.search(r"client secret \(shown once\): ([A-Za-z0-9]+)", text)
    assert shown and len(shown.group(1)) >= 32

    for listing in (cli.cli("clients", "list", "--json").stdout, cli.cli("clients", "list").stdout):
        assert secret not in listing and shown.group(1) not in listing
        assert "secret" not in listing.replace("client_secret_basic", "")
    assert {c["client_id"] for c in cli.cli_json("clients", "list")} >= {created["client_id"]}


def test_public_and_first_party_clients(cli: ProviderServer) -> None:
    """Public clients get no secret; --first-party and the grant types are recorded."""
    public = cli.cli_json(
        "clients",
        "create",
        "--name",
        "SPA",
        "--public",
        "--first-party",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--redirect-uri",
        "com.example.app:/oauth",
    )
    assert "client_secret" not in public
    assert public["is_public"] is True and public["first_party"] is True
    assert public["redirect_uris"] == ["http://127.0.0.1/cb", "com.example.app:/oauth"]
    assert ALNUM.match(public["client_id"])
    text = cli.cli(
        "clients", "create", "--name", "SPA2", "--public", "--redirect-uri", "https://rp.example/cb"
    ).stdout
    assert "secret" not in text

    machine = cli.cli_json(
        "clients",
        "create",
        "--name",
        "Worker",
        "--grant-type",
        "client_credentials",
        "--audience",
        "https://api/",
        "--scope",
        "read:things",
        "--scope",
        "write:things",
    )
    assert machine["grant_types"] == ["client_credentials"]
    assert machine["audiences"] == ["https://api/"]
    assert machine["scopes"] == ["read:things", "write:things"]
    assert ALNUM.match(machine["client_secret"]) and len(machine["client_secret"]) >= 32
    ids = [public["client_id"], machine["client_id"]]
    assert len(set(ids)) == 2
    listed = {c["client_id"]: c for c in cli.cli_json("clients", "list")}
    assert listed[public["client_id"]]["is_public"] is True
    assert listed[machine["client_id"]]["grant_types"] == ["client_credentials"]


@pytest.mark.parametrize(
    "args",
    [
        ("--redirect-uri", "not a uri"),
        ("--redirect-uri", "/relative/callback"),
        ("--redirect-uri", "https://rp.example/cb#fragment"),
        ("--redirect-uri", "https:///no-host"),
        ("--redirect-uri", ""),
        ("--redirect-uri", "https://rp.example/cb", "--logout-uri", "relative"),
        (),  # neither a redirect URI nor a grant type
        ("--grant-type", "authorization_code"),  # the code flow without a redirect URI
        ("--public", "--grant-type", "client_credentials"),
        ("--grant-type", "password"),  # the password grant only for first-party clients
        ("--grant-type", "implicit"),
    ],
)
def test_clients_create_refuses_bad_registrations(
    cli: ProviderServer, args: tuple[str, ...]
) -> None:
    """Invalid redirect URIs and impossible grant combinations are refused in one line and
    create nothing."""
    result = cli.cli("clients", "create", "--name", "bad", *args, check=False)
    if args and args[-1] == "implicit":
        assert result.returncode != 0 and "Traceback" not in result.stderr  # click's usage error
    else:
        one_line_failure(result)
    assert cli.cli_json("clients", "list") == []


@pytest.fixture
def started(tmp_path: Path) -> Iterator[ProviderServer]:
    server = new_server(tmp_path / "served")
    yield server
    dispose(server)


def test_keys_rotate_and_cli_clients_work_on_the_server(started: ProviderServer) -> None:
    """Keys rotated by the CLI are published by the server, and a client created by the CLI
    authenticates with the secret the CLI showed."""
    first = started.cli("keys", "rotate").stdout
    second = started.cli("keys", "rotate").stdout
    found = [re.search(r"new signing key (\S+?);", out) for out in (first, second)]
    kids = [match.group(1) for match in found if match]
    assert len(set(kids)) == 2
    machine = started.cli_json(
        "clients",
        "create",
        "--name",
        "Worker",
        "--grant-type",
        "client_credentials",
        "--audience",
        "https://api/",
    )
    started.start()
    published = {
        k["kid"] for k in httpx.get(started.base_url + "/.well-known/jwks.json").json()["keys"]
    }
    assert set(kids) <= published
    answer = httpx.post(
        started.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": machine["client_id"],
            "client_secret": machine["client_secret"],
        },
    )
    assert answer.status_code == 200, answer.text
    encoded = answer.json()["access_token"].split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert header["kid"] == kids[-1]  # signed with the newest key
    wrong = httpx.post(
        started.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": machine["client_id"],
            "client_secret": machine["client_secret"][:-1],
        },
    )
    assert wrong.status_code in (400, 401)


# -- settings: one clear line per bad value -------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("PROVIDER_ISSUER", "ftp://auth.example/", "issuer"),
        ("PROVIDER_ISSUER", "https://auth.example", "issuer"),
        ("PROVIDER_ISSUER", "not a url", "issuer"),
        ("PROVIDER_ISSUER", "https://auth.example/?tenant=1", "issuer"),
        ("PROVIDER_ISSUER", "https://auth.example/\nevil", "issuer"),
        ("PROVIDER_SMTP_URL", "http://mail.example/", "smtp_url"),
        ("PROVIDER_SMTP_URL", "smtp://", "smtp_url"),
        ("PROVIDER_SMTP_URL", "smtp://mail.example:99999", "smtp_url"),
        ("PROVIDER_SMTP_URL", "smtp://mail.example:port", "smtp_url"),
        ("PROVIDER_SMTP_URL", "smtp://mail.example?tls=maybe", "smtp_url"),
        ("PROVIDER_DATABASE_URL", "mysql://db.example/provider", "database_url"),
        ("PROVIDER_DATABASE_URL", "nonsense", "database_url"),
        ("PROVIDER_DATABASE_URL", "sqlite://", "database_url"),
        ("PROVIDER_DATABASE_URL", "sqlite:////nonexistent-dir/sub/provider.db", "database_url"),
        ("PROVIDER_DATABASE_URL", "postgresql://user:pw@127.0.0.1:1/provider", "database_url"),
        ("PROVIDER_PORT", "eighty", "port"),
        ("PROVIDER_SECRET_KEY", "too-short", "secret_key"),
        ("PROVIDER_DEMO", "maybe", "demo"),
        ("PROVIDER_SIGNING_ALG", "HS256", "signing_alg"),
        ("PROVIDER_AUTHORIZATION_CODE_TTL", "600", "authorization_code_ttl"),
        ("PROVIDER_ACCESS_TOKEN_TTL", "-5", "access_token_ttl"),
    ],
)
def test_bad_setting_fails_migrate_with_one_line(
    tmp_path: Path, name: str, value: str, named: str
) -> None:
    """`provider migrate` with a bad setting exits non-zero with one line naming it."""
    server = ProviderServer(data_dir=tmp_path / "data", port=free_port(), extra_env={name: value})
    line = one_line_failure(server.cli("migrate", check=False))
    assert named in line.lower(), line
    if "pw@" in value:
        assert "pw" not in line.replace("pw@", "")  # no password echoed


TOML_CASES = {
    "syntax": ('issuer = "https://auth.example/"\nport = \n', "config"),
    "unknown-key": ("bogus = 1\n", "bogus"),
    "wrong-type": ('port = "eighty"\n', "port"),
    "string-expected": ("issuer = 5\n", "issuer"),
    "bad-issuer": ('issuer = "ftp://auth.example/"\n', "issuer"),
    "not-utf8": (b'issuer = "\xff\xfe"\n', "config"),
}


@pytest.mark.parametrize("how", ["--config", "PROVIDER_CONFIG"])
@pytest.mark.parametrize("case", sorted(TOML_CASES))
def test_bad_config_file_fails_migrate_with_one_line(tmp_path: Path, case: str, how: str) -> None:
    """A bad TOML file (given with --config or PROVIDER_CONFIG) is one line naming what is
    wrong; the environment's issuer is cleared so the file's own value is checked."""
    content, named = TOML_CASES[case]
    path = tmp_path / "provider.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    env = {"PROVIDER_ISSUER": ""}
    if how == "PROVIDER_CONFIG":
        env["PROVIDER_CONFIG"] = str(path)
    server = ProviderServer(data_dir=tmp_path / "data", port=free_port(), extra_env=env)
    args = ("--config", str(path), "migrate") if how == "--config" else ("migrate",)
    line = one_line_failure(server.cli(*args, check=False))
    assert named in line.lower(), line


@pytest.mark.parametrize("target", ["missing.toml", "a-directory"])
def test_unreadable_config_file_is_one_line(tmp_path: Path, target: str) -> None:
    """A config path that is missing or not a file is one line naming the config."""
    (tmp_path / "a-directory").mkdir()
    server = ProviderServer(
        data_dir=tmp_path / "data",
        port=free_port(),
        extra_env={"PROVIDER_CONFIG": str(tmp_path / target)},
    )
    line = one_line_failure(server.cli("migrate", check=False))
    assert "config" in line.lower() and target in line


def test_environment_overrides_config_file_on_the_cli(tmp_path: Path) -> None:
    """A bad issuer in the file is harmless when the environment sets a good one, and is
    refused when it does not: the environment wins, and the file is really read."""
    path = tmp_path / "provider.toml"
    path.write_text('issuer = "ftp://from-the-file/"\n')
    server = ProviderServer(data_dir=tmp_path / "data", port=free_port())
    assert server.cli("--config", str(path), "migrate").returncode == 0
    server.extra_env["PROVIDER_ISSUER"] = ""
    line = one_line_failure(server.cli("--config", str(path), "migrate", check=False))
    assert "ftp://from-the-file/" in line


def test_environment_overrides_config_file_on_a_running_server(tmp_path: Path) -> None:
    """A server started with a config file takes the file's settings, except where the
    environment says otherwise (observed in its discovery document)."""
    path = tmp_path / "provider.toml"
    path.write_text('issuer = "https://from-the-file.example/"\nsigning_alg = "ES256"\n')
    server = new_server(tmp_path / "data", PROVIDER_CONFIG=str(path))
    try:
        server.start()
        discovery = httpx.get(server.base_url + "/.well-known/openid-configuration").json()
        jwks = httpx.get(server.base_url + "/.well-known/jwks.json").json()
    finally:
        dispose(server)
    assert discovery["issuer"] == server.issuer  # from PROVIDER_ISSUER
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256"]  # from the file
    assert {k["kty"] for k in jwks["keys"]} == {"EC"}


# -- settings: load_settings precedence -----------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("PROVIDER_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_load_settings_precedence(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Defaults < TOML file < PROVIDER_* environment < explicit overrides."""
    path = tmp_path / "provider.toml"
    path.write_text(
        'issuer = "https://file.example/"\nport = 9001\n'
        'access_token_ttl = 600\ndemo = false\n[mfa]\npolicy = "never"\n'
    )
    from_file = load_settings(path)
    assert from_file.issuer == "https://file.example/"
    assert (from_file.port, from_file.access_token_ttl, from_file.demo) == (9001, 600, False)
    assert from_file.extra["mfa"] == {"policy": "never"}
    assert from_file.id_token_ttl == 3600  # default

    clean_env.setenv("PROVIDER_ISSUER", "https://env.example/")
    clean_env.setenv("PROVIDER_PORT", "9002")
    clean_env.setenv("PROVIDER_DEMO", "yes")
    clean_env.setenv("PROVIDER_ACCESS_TOKEN_TTL", "")  # empty: not set
    from_env = load_settings(path)
    assert from_env.issuer == "https://env.example/"
    assert (from_env.port, from_env.access_token_ttl, from_env.demo) == (9002, 600, True)

    clean_env.setenv("PROVIDER_CONFIG", str(path))
    assert load_settings().port == 9002  # PROVIDER_CONFIG names the same file
    assert load_settings(port=9003).port == 9003


def test_load_settings_error_names_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    """Bad values raise SettingsError whose single-line message starts with the setting."""
    for name, value, prefix in [
        ("PROVIDER_ISSUER", "http://no-slash", "issuer:"),
        ("PROVIDER_SMTP_URL", "smtps://", "PROVIDER_SMTP_URL:"),
        ("PROVIDER_DATABASE_URL", "oracle://db/x", "database_url:"),
        ("PROVIDER_REFRESH_TOKEN_TTL", "0", "refresh_token_ttl:"),
    ]:
        clean_env.setenv(name, value)
        with pytest.raises(SettingsError) as raised:
            load_settings()
        message = str(raised.value)
        assert message.startswith(prefix) and "\n" not in message, message
        clean_env.delenv(name)
    settings = load_settings(smtp_url="smtp://user%40x:p%3Ass@mail.example:2525?tls=starttls")
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.tls) == (
        "mail.example",
        2525,
        "starttls",
    )
    assert (settings.smtp.username, settings.smtp.password) == ("user@x", "p:ss")
