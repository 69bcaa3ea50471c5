"""The schema, as SQLAlchemy Core tables.

Conventions that keep the same queries valid on SQLite and PostgreSQL: times are integer Unix
seconds, lists and maps are JSON text, ids are prefixed random strings, and every secret the
server hands out (codes, refresh tokens, client secrets) is stored only as a keyed hash.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # stored lower-cased
    Column("email_verified", Boolean, nullable=False, default=False),
    Column("password_hash", Text, nullable=True),
    Column("name", String(200), nullable=True),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

clients = Table(
    "clients",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(128), nullable=True),  # None for public clients
    Column("is_public", Boolean, nullable=False),
    Column("first_party", Boolean, nullable=False),
    Column("redirect_uris", Text, nullable=False),  # JSON list
    Column("post_logout_redirect_uris", Text, nullable=False),  # JSON list
    Column("grant_types", Text, nullable=False),  # JSON list
    Column("audiences", Text, nullable=False),  # JSON list: APIs it may ask tokens for
    Column("scopes", Text, nullable=False),  # JSON list: API scopes it may be granted
    Column("mfa_policy", String(16), nullable=True),  # None: the server's policy
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("private_jwk_sealed", Text, nullable=False),  # encrypted with the server secret
    Column("created_at", BigInteger, nullable=False),
    Column("retired_at", BigInteger, nullable=True),  # no longer signs; still published
    Column("expires_at", BigInteger, nullable=True),  # dropped from JWKS after this
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("auth_time", BigInteger, nullable=False),
    Column("amr", Text, nullable=False),  # JSON list
    Column("acr", String(200), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
)

login_transactions = Table(
    "login_transactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("browser_id", String(64), nullable=False),  # binds it to the browser that began it
    Column("client_id", String(64), nullable=False),
    Column("params", Text, nullable=False),  # JSON: the validated authorization request
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("authenticated_at", BigInteger, nullable=True),
    Column("consented_at", BigInteger, nullable=True),
    Column("completed_at", BigInteger, nullable=True),
)

consents = Table(
    "consents",
    metadata,
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    Column("scopes", Text, nullable=False),  # JSON list
    Column("granted_at", BigInteger, nullable=False),
)

# A token family: everything issued from one authorization (a code exchange or a password
# grant). Revoking it revokes its refresh tokens and, through the `gid` claim, its access tokens.
token_grants = Table(
    "token_grants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(40), nullable=True),
    Column("scope", Text, nullable=False),
    Column("audience", String(500), nullable=True),
    Column("auth_time", BigInteger, nullable=True),
    Column("amr", Text, nullable=False),
    Column("acr", String(200), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # absolute refresh lifetime
    Column("revoked_at", BigInteger, nullable=True),
    Column("revoked_reason", String(64), nullable=True),
    Index("ix_token_grants_user", "user_id"),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(40), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("audience", String(500), nullable=True),
    Column("nonce", String(500), nullable=True),
    Column("code_challenge", String(128), nullable=True),
    Column("code_challenge_method", String(16), nullable=True),
    Column("auth_time", BigInteger, nullable=False),
    Column("amr", Text, nullable=False),
    Column("acr", String(200), nullable=True),
    Column("session_id", String(64), nullable=True),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Column("grant_id", String(64), nullable=True),  # set when exchanged
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "grant_id", String(64), ForeignKey("token_grants.id", ondelete="CASCADE"), nullable=False
    ),
    Column("created_at", BigInteger, nullable=False),
    Column("rotated_at", BigInteger, nullable=True),  # used once; any further use is reuse
    Index("ix_refresh_tokens_grant", "grant_id"),
)

# Access tokens are self-contained JWTs; revoking one before it expires lists its jti here.
revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)

# Rate limits as GCRA buckets: `tat_ms` is the bucket's "theoretical arrival time"; a request is
# allowed while tat_ms - now stays within the burst tolerance. One row per key, updated atomically.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tat_ms", BigInteger, nullable=False),
)

# MFA: authenticators of every factor plugin. A plugin sees only rows with its factor_id.
authenticators = Table(
    "authenticators",
    metadata,
    Column("id", String(80), primary_key=True),  # "<factor>|dev_<random>"
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("factor_id", String(64), nullable=False),
    Column("name", String(320), nullable=True),
    Column("secret_sealed", Text, nullable=True),
    Column("data", Text, nullable=False),  # JSON object
    Column("counter", BigInteger, nullable=False),  # monotonic (e.g. last TOTP step)
    Column("created_at", BigInteger, nullable=False),
    Column("confirmed_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Index("ix_authenticators_user", "user_id", "factor_id"),
)

# An MFA transaction: one user proving a second factor, for the hosted pages or the MFA API.
mfa_transactions = Table(
    "mfa_transactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(64), nullable=True),
    Column("session_id", String(64), nullable=True),  # the first-factor session it upgrades
    Column("login_tx_id", String(64), nullable=True),
    Column("browser_id", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("completed_at", BigInteger, nullable=True),
    Column("authenticator_id", String(80), nullable=True),  # the one being challenged
    Column("challenge", Text, nullable=True),  # JSON: what the user was asked (for re-display)
    Column("attempts", BigInteger, nullable=False),  # answers to the current challenge
    Column("amr", Text, nullable=True),  # JSON list, set when completed
    # Set for MFA API transactions (mfa_token): what the password grant asked for, so the
    # tokens issued after MFA carry exactly that.
    Column("scope", Text, nullable=True),
    Column("audience", Text, nullable=True),
)

# Per-user MFA state: consecutive failures across all factors, and a lock after too many.
mfa_user_state = Table(
    "mfa_user_state",
    metadata,
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("consecutive_failures", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=True),
    Column("preferred_authenticator_id", String(80), nullable=True),
)

# Settings operators change at run time (CLI, later the dashboard): JSON values by key.
runtime_settings = Table(
    "runtime_settings",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Outgoing mail. A message is written here in the same transaction as the state that caused it,
# then delivered by a worker in some server process (claimed with a lease, so once).
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("template", String(64), nullable=True),
    Column("from_address", String(320), nullable=False),
    Column("to_address", String(320), nullable=False),
    Column("subject", String(998), nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=True),
    Column("provider", String(16), nullable=False),  # smtp | test
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("send_after", BigInteger, nullable=False),
    Column("claimed_until", BigInteger, nullable=True),
    Column("sent_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_mail_outbox_due", "status", "send_after"),
)

# Operator overrides of the built-in email templates (by Auth0's template names).
email_templates = Table(
    "email_templates",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("subject", String(998), nullable=True),
    Column("html_body", Text, nullable=True),
    Column("text_body", Text, nullable=True),
    Column("from_address", String(320), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Single-use links (email verification): a link's id is recorded when it is used.
used_links = Table(
    "used_links",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)

# One-time codes that factor plugins issue (email codes): one live code per key, as a keyed hash.
factor_codes = Table(
    "factor_codes",
    metadata,
    Column("key", String(200), primary_key=True),  # "<factor>:<plugin's key>"
    Column("code_hash", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# Operator roles (the dashboard's `admin`), granted with `provider users grant-admin`.
user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("granted_at", BigInteger, nullable=False),
)

# Every operator change (dashboard, Management API, CLI): who, what, when.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),  # "user:<id> <email>", "client:<id>", "cli"
    Column("action", String(100), nullable=False),  # e.g. "guardian.factor.enable"
    Column("target", String(320), nullable=True),
    Column("details", Text, nullable=True),  # JSON, never secrets
    Index("ix_audit_events_at", "at"),
)

# Upstream OpenID providers users may sign in with ("connections", as at Auth0).
connections = Table(
    "connections",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),  # slug shown in URLs and the CLI
    Column("display_name", String(200), nullable=False),
    Column("issuer", String(500), nullable=False),
    Column("client_id", String(500), nullable=False),
    Column("client_secret_sealed", Text, nullable=False),  # encrypted with the server secret
    Column("scopes", Text, nullable=False),  # JSON list
    Column("trust_email_verified", Boolean, nullable=False),
    Column("allow_linking", Boolean, nullable=False),  # to local accounts by verified email
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# A user's upstream identities, keyed by (issuer, subject) — never by email.
user_identities = Table(
    "user_identities",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("issuer", String(500), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("connection_id", String(40), nullable=True),  # the connection last used
    Column("email", String(320), nullable=True),  # as the upstream last sent it
    Column("email_verified", Boolean, nullable=False),  # as the upstream last sent it
    Column("linked_how", String(32), nullable=False),  # created | verified_email
    Column("linked_at", BigInteger, nullable=False),
    Column("last_login_at", BigInteger, nullable=False),
    Index("ux_user_identities_sub", "issuer", "subject", unique=True),
    Index("ix_user_identities_user", "user_id"),
)

# One round trip to an upstream: what the callback needs, found by a keyed hash of `state`,
# bound to the browser that began it, single use.
federation_states = Table(
    "federation_states",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("browser_id", String(64), nullable=False),
    Column("connection_id", String(40), nullable=False),
    Column("login_tx_id", String(64), nullable=True),
    Column("nonce", String(128), nullable=False),
    Column("code_verifier_sealed", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
)
