"""Which upstream URLs provider will talk to: https, or plain http only on loopback (as
provider allows for its own issuer in development)."""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be an upstream endpoint, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    if parts.scheme == "http":
        return "plain http is allowed only on loopback (127.0.0.1, localhost, ::1)"
    return "must be an https:// URL"


def issuer_problem(issuer: str) -> str | None:
    """Why `issuer` cannot be an OpenID issuer identifier (OIDC Discovery §2), or None."""
    if problem := url_problem(issuer):
        return problem
    parts = urlsplit(issuer)
    if parts.query or parts.fragment:
        return "must not carry a query or a fragment"
    return None


def discovery_url(issuer: str) -> str:
    """OIDC Discovery §4: the issuer without a trailing '/', then the well-known path."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"
