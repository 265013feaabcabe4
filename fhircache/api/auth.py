"""Who is calling and what they may read: bearer token, consent, SMART scopes.

The token is looked up by `fhircache.api.live_token` (the definition of
`consent.bearer`, compiled once per process).

RFC 6750 §3.1: no credentials → 401 with a bare `Bearer` challenge; a token
we do not honour (unknown, expired, revoked, consent ended) → 401
`error="invalid_token"`. A live token without patient context (client
credentials) or without the scope for a type → 403 `insufficient_scope`.
SMART App Launch 2 scopes: v1 `patient/X.read` covers read and search, v2
`patient/X.rs` names them: `r` read, `s` search (`consent.scopes.permits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.http import HttpRequest

from consent import scopes as scope_rules
from fhircache.api import live_token
from fhircache.api.outcome import FhirError

Permission = Literal["r", "s"]
_CHALLENGE = 'Bearer realm="payerbridge"'  # no token at all (RFC 6750 §3.1: no error code)
CHALLENGE_INVALID = 'Bearer error="invalid_token"'
CHALLENGE_SCOPE = 'Bearer error="insufficient_scope"'


@dataclass(frozen=True)
class Caller:
    token: object  # consent.models.IssuedToken
    consent: object  # consent.models.Consent
    scopes: tuple[str, ...]

    @property
    def consent_id(self):
        return self.consent.pk

    def may(self, resource_type: str, permission: Permission) -> bool:
        wanted = f"patient/{resource_type}.{permission}"
        return any(scope_rules.permits(allowed, wanted) for allowed in self.scopes)

    def require(self, resource_type: str, permission: Permission) -> None:
        if not self.may(resource_type, permission):
            verb = "read" if permission == "r" else "search"
            raise FhirError(
                403,
                "forbidden",
                f"The token's scopes do not allow to {verb} {resource_type}"
                f" (needs patient/{resource_type}.{permission} or patient/{resource_type}.read).",
                headers={"WWW-Authenticate": CHALLENGE_SCOPE},
            )


def bearer_value(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer` header; None when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def authenticate(request: HttpRequest) -> Caller:
    value = bearer_value(request)
    if value is None:
        raise FhirError(
            401,
            "login",
            "A bearer access token is required.",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    token = live_token.authenticate(value)
    if token is None:
        raise FhirError(
            401,
            "login",
            "The access token is unknown, expired or revoked.",
            headers={"WWW-Authenticate": CHALLENGE_INVALID},
        )
    if token.consent is None:
        raise FhirError(
            403,
            "forbidden",
            "App-level (client credentials) tokens cannot read patient data;"
            " use the patient's access token.",
            headers={"WWW-Authenticate": CHALLENGE_SCOPE},
        )
    return Caller(token, token.consent, tuple(scope_rules.resource_scopes(token.scope)))
