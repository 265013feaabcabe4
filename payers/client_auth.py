"""Our client authentication at a payer's token endpoint, private-key JWT included.

`Payer.token_endpoint_auth_method` says how we authenticate. For
`private_key_jwt` (RFC 7523 §2.2 with OpenID Connect Core §9, profiled by SMART
App Launch 2 "Client Authentication: Asymmetric") every token request carries
a fresh, short-lived JWT signed with our key for that payer:
`iss` = `sub` = our client_id, `aud` = the payer's token URL, `exp` at most five
minutes ahead, a unique `jti`; header `alg` (RS384 or ES384), `kid`, `typ: JWT`.

The OAuth client passes `authlib_client_auth(payer)` to authlib as
`token_endpoint_auth_method`; anything else may add `client_assertion_params(payer)`
to its form body.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from authlib.common.urls import add_params_to_qs
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

if TYPE_CHECKING:
    from payers.models import Payer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# SMART App Launch 2: "exp ... SHALL be no more than five minutes in the future".
ASSERTION_LIFETIME_S = 300
PRIVATE_KEY_JWT = "private_key_jwt"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


class ClientKeyMissing(ValueError):
    """The payer is set to private_key_jwt but has no usable key or key id."""


def generate_client_key(alg: str = "RS384") -> tuple[str, dict[str, Any]]:
    """A new key pair for `alg`: (private PEM for `Payer.client_private_key`, public JWK).

    The public JWK (with a `kid` derived from it, RFC 7638 thumbprint) is what
    the payer registers for us.
    """
    key = ECKey.generate_key("P-384") if alg == "ES384" else RSAKey.generate_key(2048)
    public = key.as_dict(private=False)
    public.update({"kid": key.thumbprint(), "alg": alg, "use": "sig"})
    return key.as_pem(private=True).decode(), public


def assign_new_client_key(payer: Payer, alg: str = "RS384") -> dict[str, Any]:
    """Switch `payer` (unsaved) to private_key_jwt with a new key; the public JWK to register."""
    payer.client_private_key, public = generate_client_key(alg)
    payer.client_key_id = public["kid"]
    payer.token_endpoint_auth_signing_alg = alg
    payer.token_endpoint_auth_method = PRIVATE_KEY_JWT
    return public


def published_jwks(payers: Iterable[Payer]) -> dict[str, Any]:
    """RFC 7517 JWK Set of our public keys for these payers (skipping ones without a key)."""
    keys = []
    for payer in payers:
        if payer.token_endpoint_auth_method == PRIVATE_KEY_JWT and payer.client_key_id:
            try:
                keys.append(public_jwk(payer))
            except ClientKeyMissing:
                continue  # a broken key must not hide the others
    return {"keys": keys}


def _signing_key(payer: Payer) -> RSAKey | ECKey:
    if not payer.client_private_key or not payer.client_key_id:
        raise ClientKeyMissing(f"payer {payer.slug} has no private key or key id for JWT auth")
    key_type = ECKey if payer.token_endpoint_auth_signing_alg.startswith("ES") else RSAKey
    try:
        return key_type.import_key(payer.client_private_key)
    except ValueError as exc:
        raise ClientKeyMissing(f"payer {payer.slug}'s private key does not load: {exc}") from None


def public_jwk(payer: Payer) -> dict[str, Any]:
    """Our public key for this payer, as the payer should register it (RFC 7517)."""
    public = _signing_key(payer).as_dict(private=False)
    alg = payer.token_endpoint_auth_signing_alg
    return {**public, "kid": payer.client_key_id, "alg": alg, "use": "sig"}


def client_assertion(payer: Payer, *, now: int | None = None) -> str:
    """A signed client assertion for one token request to `payer.token_url` (single use)."""
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": payer.client_id,
        "sub": payer.client_id,
        "aud": payer.token_url,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
        "jti": secrets.token_urlsafe(24),
    }
    alg = payer.token_endpoint_auth_signing_alg
    header = {"alg": alg, "kid": payer.client_key_id, "typ": "JWT"}
    return jwt.encode(header, claims, _signing_key(payer), algorithms=[alg])


def client_assertion_params(payer: Payer) -> dict[str, str]:
    """The form fields of RFC 7523 §2.2 for one token request."""
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(payer)}


class PrivateKeyJWTAuth:
    """An authlib client-auth method (`ClientAuth` calls it) adding our assertion to the body.

    It also sends `client_id`, which RFC 7523 §3 allows and some payers want.
    """

    name = PRIVATE_KEY_JWT

    def __init__(self, payer: Payer) -> None:
        self.payer = payer

    def __call__(self, auth: Any, method: str, uri: str, headers: dict, body: str):
        params = [("client_id", self.payer.client_id), *client_assertion_params(self.payer).items()]
        return uri, headers, add_params_to_qs(body or "", params)


def authlib_client_auth(payer: Payer) -> str | PrivateKeyJWTAuth:
    """The value for authlib's `token_endpoint_auth_method` for this payer."""
    method = payer.token_endpoint_auth_method
    if method == PRIVATE_KEY_JWT:
        return PrivateKeyJWTAuth(payer)
    if method in SECRET_METHODS and not payer.client_secret:
        return "none"  # registered as a public client after all
    return method
