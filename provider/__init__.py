"""provider: an OAuth 2.0 / OpenID Connect server with pluggable multi-factor authentication."""

__version__ = "0.1.0"
