"""RFC 7662 introspection and RFC 7009 revocation, for an app's own tokens."""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from django.db.models import Q
from django.utils import timezone

from consent.models import IssuedToken
from consent.secrets import digest

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def find_token(token_string: str) -> tuple[IssuedToken | None, str]:
    """The row for an access or refresh token, and which of the two it is."""
    h = digest(token_string)
    row = (
        IssuedToken.objects.select_related("consent", "app")
        .filter(Q(access_token_hash=h) | Q(refresh_token_hash=h))
        .first()
    )
    if row is None:
        return None, ""
    return row, "access_token" if row.access_token_hash == h else "refresh_token"


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662: active, scope, client_id, exp, patient, consent_id, consent_expires_at,
    external_id (the app's own reference for the consent, or null)."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        row, kind = find_token(token_string)
        if row is not None:
            row.presented_as = kind
        return row

    def check_permission(self, token: IssuedToken, client, request) -> bool:
        # Only the app the token was issued to may introspect it (DESIGN.md).
        return token.check_client(client)

    def create_introspection_payload(self, token: IssuedToken | None) -> dict:
        if token is None or not token.is_live(token.presented_as):
            return {"active": False}
        from consent.oauth.server import iso

        payload = {
            "active": True,
            "token_type": "Bearer" if token.presented_as == "access_token" else "refresh_token",
            "scope": token.scope,
            "client_id": token.app.client_id,
            "iat": int(token.issued_at.timestamp()),
        }
        if token.presented_as == "access_token":
            payload["exp"] = int(token.access_expires_at.timestamp())
        if token.consent is not None:
            payload["patient"] = token.consent.patient_id
            payload["consent_id"] = str(token.consent.pk)
            payload["consent_expires_at"] = iso(token.consent.expires_at)
            payload["external_id"] = token.consent.external_id or None
            if "exp" not in payload:
                payload["exp"] = int(token.consent.expires_at.timestamp())
        return payload


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009 with DESIGN.md semantics.

    Any access or refresh token of a patient consent ends the consent (and so
    every token of it); a client-credentials token ends only itself. Unknown
    tokens answer 200 as §2.2 requires.
    """

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string)[0]

    def revoke_token(self, token: IssuedToken, request) -> None:
        if token.consent is not None:
            from consent.lifecycle import end_consent

            end_consent(token.consent, reason="revoked_by_app")
        else:
            IssuedToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
