"""Configuration: built-in defaults < TOML file < PROVIDER_* environment variables.

Every setting is validated once at start-up; a bad value raises `SettingsError` whose message
is one line naming the setting and what is wrong with it.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class SettingsError(ValueError):
    """A setting has a value provider cannot run with."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: str  # none | starttls | tls
    timeout: int = 20  # seconds for one SMTP conversation


@dataclass(frozen=True)
class Settings:
    issuer: str = "http://127.0.0.1:8000/"
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file in data_dir
    secret_key: str = ""  # empty: generated once into data_dir/secret.key
    smtp_url: str = ""  # empty: built-in test mail provider
    mail_from: str = "provider <no-reply@localhost>"
    service_name: str = "provider"  # shown to users (authenticator app labels, emails)
    host: str = "127.0.0.1"
    port: int = 8000
    signing_alg: str = "RS256"
    access_token_ttl: int = 3600
    id_token_ttl: int = 3600
    authorization_code_ttl: int = 60
    refresh_token_ttl: int = 30 * 24 * 3600  # absolute lifetime of a token family
    session_ttl: int = 7 * 24 * 3600
    login_transaction_ttl: int = 15 * 60
    max_body_bytes: int = 64 * 1024
    demo: bool = True  # create a demo client and user on first run
    secure_cookies: bool | None = None  # None: derived from the issuer's scheme
    extra: dict[str, Any] = field(default_factory=dict)  # sections owned by later features

    @property
    def issuer_origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_loopback(self) -> bool:
        return urlsplit(self.issuer).hostname in ("127.0.0.1", "localhost", "::1")

    def url(self, path: str) -> str:
        """An absolute URL under the issuer (which always ends with '/')."""
        return self.issuer + path.lstrip("/")

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.issuer.startswith("https://")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'provider.db').resolve()}"

    @property
    def smtp(self) -> SmtpSettings | None:
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    def prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated on first run and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value


_ENV_PREFIX = "PROVIDER_"
_INT_FIELDS = {f.name for f in fields(Settings) if f.type in ("int",)}
_BOOL_FIELDS = {"demo"}


def parse_smtp_url(url: str) -> SmtpSettings:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise SettingsError("PROVIDER_SMTP_URL: scheme must be smtp:// (or smtps://)")
    if not parts.hostname:
        raise SettingsError("PROVIDER_SMTP_URL: a host is required")
    query = parse_qs(parts.query)
    tls = query.get("tls", ["tls" if parts.scheme == "smtps" else "none"])[0]
    if tls not in ("none", "starttls", "tls"):
        raise SettingsError("PROVIDER_SMTP_URL: tls must be none, starttls or tls")
    try:
        port = parts.port or (465 if tls == "tls" else 25)
    except ValueError as exc:
        raise SettingsError("PROVIDER_SMTP_URL: the port is not a number 1-65535") from exc
    raw_timeout = query.get("timeout", ["20"])[0]
    if not raw_timeout.isdigit() or not 1 <= int(raw_timeout) <= 300:
        raise SettingsError("PROVIDER_SMTP_URL: timeout must be 1-300 seconds")
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        timeout=int(raw_timeout),
    )


def _coerce(name: str, raw: Any) -> Any:
    if name in _INT_FIELDS:
        try:
            value = int(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from exc
        if value <= 0 or value > 10**9:
            raise SettingsError(f"{name}: must be a positive number, got {value}")
        return value
    if name in _BOOL_FIELDS or name == "secure_cookies":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
    if name == "data_dir":
        return Path(str(raw))
    if not isinstance(raw, str):
        raise SettingsError(f"{name}: expected a string, got {raw!r}")
    return raw


def _validate(settings: Settings) -> Settings:
    issuer = urlsplit(settings.issuer)
    if issuer.scheme not in ("http", "https") or not issuer.netloc:
        raise SettingsError(f"issuer: must be an http(s) URL, got {settings.issuer!r}")
    if issuer.query or issuer.fragment:
        raise SettingsError("issuer: must not carry a query or a fragment")
    if not settings.issuer.endswith("/"):
        raise SettingsError("issuer: must end with '/' (for example https://auth.example.com/)")
    if settings.signing_alg not in ("RS256", "ES256"):
        raise SettingsError(f"signing_alg: must be RS256 or ES256, got {settings.signing_alg!r}")
    scheme = urlsplit(settings.effective_database_url).scheme.split("+")[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise SettingsError("database_url: must be a sqlite:/// or postgresql:// URL")
    sqlite_path = urlsplit(settings.effective_database_url).path
    if scheme == "sqlite" and sqlite_path in ("", "/", "/:memory:"):  # private to one connection
        raise SettingsError("database_url: a sqlite URL needs a file (sqlite:///path/to/file.db)")
    if settings.secret_key and len(settings.secret_key) < 32:
        raise SettingsError("secret_key: must be at least 32 characters")
    if settings.authorization_code_ttl > 60:
        raise SettingsError("authorization_code_ttl: at most 60 seconds (RFC 9700)")
    if not 1 <= settings.port <= 65535:
        raise SettingsError(f"port: must be 1-65535, got {settings.port}")
    if settings.smtp_url:
        parse_smtp_url(settings.smtp_url)
    return settings


def load_settings(config_path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build validated settings from defaults, an optional TOML file, the environment and
    explicit overrides (used by the CLI and tests), in that order of precedence."""
    known = {f.name for f in fields(Settings)} - {"extra"}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    path = config_path or os.environ.get("PROVIDER_CONFIG")
    if path:
        try:
            document = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise SettingsError(f"config: file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config: {path} is not valid TOML ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise SettingsError(f"config: {path} is not UTF-8 text") from exc
        except OSError as exc:
            raise SettingsError(f"config: cannot read {path} ({exc.strerror})") from exc
        for key, raw in document.items():
            if key in known:
                values[key] = _coerce(key, raw)
            elif isinstance(raw, dict):
                extra[key] = raw
            else:
                raise SettingsError(f"config: unknown setting {key!r} in {path}")

    for name in known:
        raw = os.environ.get(_ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)

    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, raw)

    return _validate(Settings(**values, extra=extra))
