"""The RS256 key that signs our id_tokens (OpenID Connect Core §2) and its JWKS."""

from __future__ import annotations

import json
import secrets
from functools import lru_cache

from django.db import transaction
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from consent.models import SigningKey


def active_key() -> tuple[str, RSAKey]:
    """The current signing key, created (encrypted at rest) on first use."""
    row = SigningKey.objects.filter(active=True).first()
    if row is None:
        with transaction.atomic():
            # Serialise first use across processes; a second creator finds the row.
            SigningKey.objects.select_for_update().filter(active=True).first()
            row = SigningKey.objects.filter(active=True).first()
            if row is None:
                key = RSAKey.generate_key(2048)
                row = SigningKey.objects.create(
                    kid=secrets.token_urlsafe(12),
                    private_jwk=json.dumps(key.as_dict(private=True)),
                )
    return row.kid, _import(row.kid, row.private_jwk)


@lru_cache(maxsize=8)
def _import(kid: str, private_jwk: str) -> RSAKey:
    # Parsing an RSA key costs milliseconds; keys never change under a kid.
    return RSAKey.import_key(json.loads(private_jwk))


def jwks() -> dict:
    """Public keys of every key still in the table (old ones verify tokens already out)."""
    active_key()  # never publish an empty set: clients cache the JWKS
    keys = []
    for row in SigningKey.objects.all():
        public = _import(row.kid, row.private_jwk).as_dict(private=False)
        keys.append({**public, "kid": row.kid, "use": "sig", "alg": "RS256"})
    return {"keys": keys}


def sign(claims: dict) -> str:
    kid, key = active_key()
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)


def verify(token: str) -> dict:
    """Decode and check the signature of one of our id_tokens (used by tests and tools)."""
    key_set = KeySet.import_key_set(jwks())
    return dict(jwt.decode(token, key_set, algorithms=["RS256"]).claims)
