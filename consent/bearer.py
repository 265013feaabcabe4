"""Checking the bearer tokens we issued (RFC 6750), for every API that accepts them.

The FHIR API and the app-level consent API both call `authenticate`; a token of
an ended consent fails here the moment the consent ends.
"""

from __future__ import annotations

from rest_framework import authentication, exceptions

from consent.models import IssuedToken
from consent.secrets import digest


def authenticate(access_token: str) -> IssuedToken | None:
    """The live token row for `access_token`, or None (unknown, expired, revoked, consent ended).

    "Live" is `IssuedToken.objects.live_access()`, the definition introspection
    and the authlib grants use too.
    """
    if not access_token:
        return None
    return (
        IssuedToken.objects.live_access()
        .select_related("consent", "app", "consent__payer")
        .filter(access_token_hash=digest(access_token))
        .first()
    )


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF authentication: `request.auth` is the IssuedToken, `request.user` its app."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = authenticate(value.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("invalid_token")
        return (token.app, token)

    def authenticate_header(self, request) -> str:
        return 'Bearer error="invalid_token"'
