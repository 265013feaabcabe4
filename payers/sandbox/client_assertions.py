"""Sandbox token endpoint: `private_key_jwt` client authentication.

RFC 7523 §2.2 and §3 as SMART App Launch 2 "Client Authentication: Asymmetric"
profiles it: the assertion is a JWT signed (RS384 or ES384) with a key the
client registered; `iss` = `sub` = client_id, `aud` = this token endpoint's
URL, `exp` in the future and at most five minutes away, and a `jti` the
server accepts only once.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from payers.sandbox.models import SandboxClient, SandboxClientAssertion, SandboxPayer, token_hash
from payers.sandbox.oauth import OAuthError, find_client, oauth_base

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS384", "ES384"]
MAX_LIFETIME_S = 300
CLOCK_SKEW_S = 30


def _refuse(reason: str) -> OAuthError:
    return OAuthError("invalid_client", f"client assertion refused: {reason}", status=401)


def _unverified_claims(assertion: str) -> dict[str, Any]:
    """The payload, read only to find which client's keys to verify it with."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _refuse("not a signed JWT")
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        raise _refuse("the payload is not base64url JSON") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise _refuse("iss is missing")
    return claims


def authenticate_with_assertion(
    payer: SandboxPayer, assertion_type: str, assertion: str, client_id: str | None
) -> SandboxClient:
    """The client a valid, unused assertion authenticates; else `invalid_client`."""
    if assertion_type != ASSERTION_TYPE:
        raise _refuse(f"client_assertion_type must be {ASSERTION_TYPE}")
    issuer = _unverified_claims(assertion)["iss"]
    if client_id and client_id != issuer:
        raise _refuse("client_id does not match the assertion's iss")
    client = find_client(payer, issuer)
    if client is None or not client.jwks:
        raise _refuse("no keys are registered for this client")
    try:
        token = jwt.decode(
            assertion, KeySet.import_key_set({"keys": client.jwks}), algorithms=ALGORITHMS
        )
    except (JoseError, ValueError) as exc:
        raise _refuse(f"signature does not verify ({type(exc).__name__})") from None
    expires = _check_claims(token.claims, client.client_id, f"{oauth_base(payer.slug)}/token")
    _use_once(client, str(token.claims["jti"]), expires)
    return client


def _check_claims(claims: dict[str, Any], client_id: str, token_url: str) -> datetime:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _refuse("iss and sub must both be the client_id")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if token_url not in audiences:
        raise _refuse("aud must be this token endpoint's URL")
    exp = claims.get("exp")
    now = time.time()
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _refuse("exp is required")
    if exp <= now - CLOCK_SKEW_S:
        raise _refuse("the assertion has expired")
    if exp > now + MAX_LIFETIME_S + CLOCK_SKEW_S:
        raise _refuse("exp may be at most five minutes in the future")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise _refuse("jti is required")
    # Kept while the assertion could still pass the exp check (skew included).
    return datetime.fromtimestamp(exp + CLOCK_SKEW_S, UTC)


def _use_once(client: SandboxClient, jti: str, expires: datetime) -> None:
    # A spent jti is forgotten once its assertion would be refused as expired.
    SandboxClientAssertion.objects.filter(client=client, expires_at__lt=timezone.now()).delete()
    try:
        with transaction.atomic():
            SandboxClientAssertion.objects.create(
                client=client, jti_hash=token_hash(jti), expires_at=expires
            )
    except IntegrityError:
        raise _refuse("this jti was already used") from None
