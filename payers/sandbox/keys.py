"""The sandbox's id_token signing key (RS256), kept encrypted in the database."""

from __future__ import annotations

from functools import cache

from joserfc.jwk import RSAKey

from payers.sandbox.models import SandboxSigningKey

KID = "sandbox-rs256-1"


@cache
def _import(pem: str) -> RSAKey:
    return RSAKey.import_key(pem)


def signing_key() -> RSAKey:
    """The key, created on first use (a concurrent creator loses and reads ours)."""
    row = SandboxSigningKey.objects.filter(kid=KID).first()
    if row is None:
        pem = RSAKey.generate_key(2048).as_pem(private=True).decode()
        row, _ = SandboxSigningKey.objects.get_or_create(kid=KID, defaults={"private_pem": pem})
    return _import(row.private_pem)


def jwks() -> dict:
    """RFC 7517 JWK Set with the public half only."""
    public = signing_key().as_dict(private=False)
    return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}
