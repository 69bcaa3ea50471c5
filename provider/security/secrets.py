"""Random identifiers, keyed hashes of server-issued secrets, and sealing data at rest.

Everything here derives its keys from the one server secret, each use under its own label, so
that no two purposes ever share key material.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALPHANUMERIC = string.ascii_letters + string.digits


def random_alphanumeric(length: int) -> str:
    """Client ids and secrets: [A-Za-z0-9] only, as Auth0-style clients expect."""
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def new_id(prefix: str, nbytes: int = 12) -> str:
    return f"{prefix}_{secrets.token_hex(nbytes)}"


def new_token(nbytes: int = 32) -> str:
    """An opaque bearer secret (authorization codes, refresh tokens, session ids)."""
    return secrets.token_urlsafe(nbytes)


def derive_key(secret: str, label: str, length: int = 32) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=label.encode()).derive(
        secret.encode()
    )


class SecretBox:
    """Keyed hashing and authenticated encryption under keys derived from the server secret."""

    def __init__(self, server_secret: str) -> None:
        self._hash_key = derive_key(server_secret, "provider/keyed-hash/v1")
        self._aead = AESGCM(derive_key(server_secret, "provider/seal/v1"))
        self.signing_key = derive_key(server_secret, "provider/cookies/v1")

    def keyed_hash(self, value: str) -> str:
        """A fast keyed hash: right for high-entropy random secrets, never for passwords."""
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()

    def matches(self, value: str, expected_hash: str | None) -> bool:
        if not expected_hash:
            return False
        return hmac.compare_digest(self.keyed_hash(value), expected_hash)

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, token: str, context: str) -> bytes:
        raw = base64.urlsafe_b64decode(token.encode())
        return self._aead.decrypt(raw[:12], raw[12:], context.encode())
