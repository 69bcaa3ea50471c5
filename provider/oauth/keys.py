"""The key ring: signing keys loaded from the store, the JWKS they publish, and signing and
verification of provider's own JWTs.

Rotation adds a key that signs from then on; older keys stop signing but stay in the JWKS until
every token they signed has expired. Each process re-reads the keys periodically, so replicas
pick up a rotation without a restart.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey, import_key

from provider.clock import now
from provider.db.records import SigningKeyRecord
from provider.db.store import Store
from provider.security.secrets import SecretBox, new_id

SEAL_CONTEXT = "signing-key"
PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}


class InvalidJWT(Exception):
    """A JWT did not verify: bad signature, unknown key, wrong issuer or expired."""


def generate_key_record(alg: str, box: SecretBox) -> SigningKeyRecord:
    kid = new_id("key", 8)
    parameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "ES256":
        key: Any = ECKey.generate_key("P-256", parameters=parameters, private=True)
    else:
        key = RSAKey.generate_key(2048, parameters=parameters, private=True)
    private = key.as_dict(private=True)
    public = {k: private[k] for k in PUBLIC_MEMBERS[private["kty"]]}
    public.update(kid=kid, alg=alg, use="sig")
    return SigningKeyRecord(
        kid=kid,
        alg=alg,
        public_jwk=public,
        private_jwk_sealed=box.seal(json.dumps(private).encode(), SEAL_CONTEXT),
        created_at=now(),
        retired_at=None,
        expires_at=None,
    )


async def rotate_keys(store: Store, box: SecretBox, alg: str, max_token_ttl: int) -> str:
    """Add a new signing key; returns its kid."""
    record = generate_key_record(alg, box)
    stamp = now()
    await store.keys.add(record, retire_others_at=stamp, expire_at=stamp + max_token_ttl + 300)
    return record.kid


class KeyRing:
    def __init__(self, store: Store, box: SecretBox, issuer: str) -> None:
        self._store = store
        self._box = box
        self._issuer = issuer
        self._signing: Any = None
        self._signing_record: SigningKeyRecord | None = None
        self._verify_set = KeySet([])
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_kids: tuple[str, ...] = ()

    async def load(self, *, alg: str, max_token_ttl: int) -> None:
        """(Re)read the published keys; create the first key if there is none."""
        records = await self._store.keys.published(now())
        active = [r for r in records if r.retired_at is None]
        if not active:
            await rotate_keys(self._store, self._box, alg, max_token_ttl)
            records = await self._store.keys.published(now())
            active = [r for r in records if r.retired_at is None]
        kids = tuple(r.kid for r in records)
        if kids == self._loaded_kids:
            return
        signing = active[0]
        private = json.loads(self._box.unseal(signing.private_jwk_sealed, SEAL_CONTEXT))
        self._signing = import_key(private)
        self._signing_record = signing
        self._verify_set = KeySet([import_key(r.public_jwk) for r in records])
        self._jwks = {"keys": [r.public_jwk for r in records]}
        self._loaded_kids = kids

    @property
    def jwks(self) -> dict[str, Any]:
        return self._jwks

    @property
    def signing_key(self) -> Any:
        return self._signing

    @property
    def alg(self) -> str:
        assert self._signing_record is not None, "KeyRing.load() has not run"
        return self._signing_record.alg

    @property
    def kid(self) -> str:
        assert self._signing_record is not None, "KeyRing.load() has not run"
        return self._signing_record.kid

    def header(self, typ: str | None = None) -> dict[str, str]:
        header = {"alg": self.alg, "kid": self.kid}
        if typ:
            header["typ"] = typ
        return header

    def sign(self, claims: dict[str, Any], typ: str | None = None) -> str:
        return jwt.encode(self.header(typ), claims, self._signing, algorithms=[self.alg])

    def verify(
        self, token: str, *, typ: str | None = None, check_exp: bool = True
    ) -> dict[str, Any]:
        """Claims of a JWT this server signed; raises InvalidJWT otherwise."""
        try:
            decoded = jwt.decode(token, self._verify_set, algorithms=["RS256", "ES256"])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidJWT(str(exc)) from exc
        claims = decoded.claims
        if typ and decoded.header.get("typ") != typ:
            raise InvalidJWT("unexpected token type")
        if claims.get("iss") != self._issuer:
            raise InvalidJWT("foreign issuer")
        exp = claims.get("exp")
        if check_exp and (not isinstance(exp, int) or exp <= now()):
            raise InvalidJWT("expired")
        return claims
