"""Validating an upstream's ID token (OpenID Connect Core §3.1.3.7): a signature by a key in
the upstream's JWKS with an asymmetric algorithm, `iss` exactly the configured issuer, `aud`
containing our client id (and `azp` ours when there are several audiences), `exp` in the
future, `iat` not in the future, and `nonce` the one provider sent for this round trip."""

from __future__ import annotations

import hmac
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from provider.clock import now
from provider.federation.errors import BadIdToken

# Asymmetric only: `none` and HMAC (keyed with the client secret) are refused.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_SECONDS = 60  # clock skew between provider and the upstream
MAX_TOKEN_CHARS = 16 * 1024


def _refuse(name: str, detail: str) -> BadIdToken:
    return BadIdToken(
        f"The answer from {name} could not be verified. Start the sign-in again.", detail=detail
    )


def validate_id_token(
    raw: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    name: str,
    algorithms: tuple[str, ...] = (),
    at: int | None = None,
) -> dict[str, Any]:
    """The verified claims of `raw`, or BadIdToken saying (in `detail`) what failed."""
    allowed = [a for a in (algorithms or ALGORITHMS) if a in ALGORITHMS] or list(ALGORITHMS)
    if len(raw) > MAX_TOKEN_CHARS:
        raise _refuse(name, "id_token too large")
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        token = jwt.decode(raw, keys, algorithms=allowed)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _refuse(name, f"id_token signature/format: {exc!r}") from exc
    claims = dict(token.claims)
    moment = now() if at is None else at

    if claims.get("iss") != issuer:
        raise _refuse(name, f"id_token iss {claims.get('iss')!r} is not {issuer!r}")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise _refuse(name, f"id_token aud {audience!r} does not contain our client id")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise _refuse(name, f"id_token azp {claims.get('azp')!r} is not our client id")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + LEEWAY_SECONDS < moment:
        raise _refuse(name, f"id_token expired or without exp ({exp!r})")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or iat - LEEWAY_SECONDS > moment:
        raise _refuse(name, f"id_token iat missing or in the future ({iat!r})")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise _refuse(name, "id_token nonce does not match this sign-in")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise _refuse(name, "id_token without a usable sub")
    return claims
