"""The sandbox payers' SMART App Launch 2 authorization server (logic only).

Authorization code grant with PKCE S256 (RFC 7636; `plain` refused as SMART
App Launch 2 requires), single-use short-lived codes (RFC 6749 §4.1.2),
exact redirect URI match (§3.1.2.3), refresh token rotation with reuse
detection (OAuth 2.0 Security BCP §4.14.2), revocation (RFC 7009) and OpenID
Connect id_tokens carrying `fhirUser`. Views in `views_oauth.py` stay thin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from joserfc import jwt

from payers.sandbox.keys import KID, signing_key
from payers.sandbox.models import (
    SandboxClient,
    SandboxGrant,
    SandboxPayer,
    SandboxToken,
    token_hash,
)
from payers.sandbox.profiles import QuirkProfile

REFRESH_LIFETIME = timedelta(days=90)
ID_TOKEN_SECONDS = 3600


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: `error` code, readable description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def as_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class UntrustedRedirect(OAuthError):
    """Unknown client or unregistered redirect URI: shown, never redirected to (§4.1.2.1)."""


def fhir_base(slug: str, sandbox_base_url: str | None = None) -> str:
    return f"{(sandbox_base_url or settings.SANDBOX_BASE_URL).rstrip('/')}/sandbox/{slug}/fhir"


def oauth_base(slug: str, sandbox_base_url: str | None = None) -> str:
    return f"{(sandbox_base_url or settings.SANDBOX_BASE_URL).rstrip('/')}/sandbox/{slug}/oauth"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    nonce: str


def find_client(payer: SandboxPayer, client_id: str | None) -> SandboxClient | None:
    # A NUL names no client (and PostgreSQL text cannot even be compared with one).
    if not client_id or "\x00" in client_id:
        return None
    return SandboxClient.objects.filter(payer=payer, client_id=client_id).first()


def validate_authorize(payer: SandboxPayer, params: dict[str, str]) -> AuthorizeRequest:
    """Check an authorize request; errors after the redirect URI is trusted go back to it."""
    client = find_client(payer, params.get("client_id"))
    if client is None:
        raise UntrustedRedirect("invalid_client", "unknown client_id")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise UntrustedRedirect("invalid_request", "redirect_uri is not registered for this client")
    if any("\x00" in value for value in params.values()):
        raise OAuthError("invalid_request", "parameters may not contain NUL characters")
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        raise OAuthError("invalid_request", "PKCE with code_challenge_method=S256 is required")
    if params.get("aud", "").rstrip("/") != fhir_base(payer.slug):
        raise OAuthError("invalid_request", "aud must be this server's FHIR base URL")
    if not params.get("scope", "").split():
        raise OAuthError("invalid_scope", "scope is required")
    return AuthorizeRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(params["scope"].split()),
        state=params.get("state", ""),
        code_challenge=params["code_challenge"],
        nonce=params.get("nonce", ""),
    )


def granted_scope(requested: str, profile: QuirkProfile) -> str:
    scopes = requested.split()
    if not profile.refresh:
        scopes = [s for s in scopes if s != "offline_access"]
    return " ".join(scopes)


def issue_code(payer: SandboxPayer, request: AuthorizeRequest, patient_id: str) -> str:
    code = secrets.token_urlsafe(32)
    profile = QuirkProfile.from_dict(payer.profile)
    SandboxGrant.objects.create(
        client=SandboxClient.objects.get(payer=payer, client_id=request.client_id),
        code_hash=token_hash(code),
        patient_id=patient_id,
        scope=granted_scope(request.scope, profile),
        redirect_uri=request.redirect_uri,
        code_challenge=request.code_challenge,
        nonce=request.nonce,
        expires_at=timezone.now() + timedelta(seconds=profile.code_seconds),
    )
    return code


def authenticate_client(payer: SandboxPayer, client_id: str, secret: str | None) -> SandboxClient:
    """client_secret_basic / client_secret_post, or a public client (no secret registered).

    A profile that requires private_key_jwt refuses these (see client_assertions.py).
    """
    client = find_client(payer, client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client", status=401)
    if QuirkProfile.from_dict(payer.profile).client_auth == "private_key_jwt":
        raise OAuthError(
            "invalid_client", "this server requires private_key_jwt client authentication", 401
        )
    if client.secret_hash:
        if not secret or not hmac.compare_digest(client.secret_hash, token_hash(secret)):
            raise OAuthError("invalid_client", "client authentication failed", status=401)
    return client


def exchange_code(
    payer: SandboxPayer, client: SandboxClient, code: str, redirect_uri: str, verifier: str
) -> dict[str, Any]:
    return _raise_errors(_exchange_code, payer, client, code, redirect_uri, verifier)


@transaction.atomic
def _exchange_code(
    payer: SandboxPayer, client: SandboxClient, code: str, redirect_uri: str, verifier: str
) -> dict[str, Any] | OAuthError:
    # Errors are returned, not raised, so the atomic block commits what it
    # marked (the code as used, a revoked grant) before the caller raises.
    grant = (
        SandboxGrant.objects.select_for_update()
        .filter(client=client, code_hash=token_hash(code or ""))
        .first()
    )
    if grant is None:
        return OAuthError("invalid_grant", "authorization code is invalid")
    family = uuid.UUID(grant.code_hash[:32])
    if grant.used_at is not None:
        # A replayed code revokes what it issued the first time (RFC 6749 §4.1.2).
        _revoke_family(family)
        return OAuthError("invalid_grant", "authorization code was already used")
    grant.used_at = timezone.now()
    grant.save(update_fields=["used_at"])
    if grant.expires_at <= timezone.now():
        return OAuthError("invalid_grant", "authorization code has expired")
    if redirect_uri != grant.redirect_uri:
        return OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    if not verifier:
        return OAuthError("invalid_request", "code_verifier is required")
    if not hmac.compare_digest(s256(verifier), grant.code_challenge):
        return OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    return _issue_tokens(payer, client, grant.patient_id, grant.scope, family, grant.nonce)


def refresh(payer: SandboxPayer, client: SandboxClient, refresh_token: str) -> dict[str, Any]:
    return _raise_errors(_refresh, payer, client, refresh_token)


@transaction.atomic
def _refresh(
    payer: SandboxPayer, client: SandboxClient, refresh_token: str
) -> dict[str, Any] | OAuthError:
    token = (
        SandboxToken.objects.select_for_update()
        .filter(client=client, kind=SandboxToken.Kind.REFRESH, token_hash=token_hash(refresh_token))
        .first()
    )
    if token is None or token.revoked_at is not None:
        return OAuthError("invalid_grant", "refresh token is invalid or revoked")
    if token.used_at is not None:
        # Reuse of a rotated token: someone holds a stolen copy; end the whole grant.
        _revoke_family(token.family)
        return OAuthError("invalid_grant", "refresh token was already used; authorization revoked")
    if token.expires_at and token.expires_at <= timezone.now():
        return OAuthError("invalid_grant", "refresh token has expired")
    token.used_at = timezone.now()
    token.save(update_fields=["used_at"])
    return _issue_tokens(payer, client, token.patient_id, token.scope, token.family, "")


def _raise_errors(func, *args: Any) -> dict[str, Any]:
    outcome = func(*args)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome


def revoke(client: SandboxClient, value: str) -> None:
    """RFC 7009 §2.2: unknown tokens are fine; a refresh token takes its grant with it."""
    token = SandboxToken.objects.filter(client=client, token_hash=token_hash(value)).first()
    if token is None:
        return
    if token.kind == SandboxToken.Kind.REFRESH:
        _revoke_family(token.family)
    else:
        SandboxToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())


def _revoke_family(family: uuid.UUID) -> None:
    SandboxToken.objects.filter(family=family, revoked_at=None).update(revoked_at=timezone.now())


def _issue_tokens(
    payer: SandboxPayer,
    client: SandboxClient,
    patient_id: str,
    scope: str,
    family: uuid.UUID,
    nonce: str,
) -> dict[str, Any]:
    profile = QuirkProfile.from_dict(payer.profile)
    now = timezone.now()

    def store(kind: str, lifetime: timedelta) -> str:
        value = secrets.token_urlsafe(32)
        SandboxToken.objects.create(
            client=client,
            kind=kind,
            token_hash=token_hash(value),
            family=family,
            patient_id=patient_id,
            scope=scope,
            expires_at=now + lifetime,
        )
        return value

    access = store(SandboxToken.Kind.ACCESS, timedelta(seconds=profile.access_token_seconds))
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": profile.access_token_seconds,
        "scope": scope,
    }
    if profile.patient_in_token:
        body["patient"] = patient_id
    scopes = scope.split()
    if "offline_access" in scopes and profile.refresh:
        body["refresh_token"] = store(SandboxToken.Kind.REFRESH, REFRESH_LIFETIME)
    if "openid" in scopes:
        body["id_token"] = id_token(payer.slug, client.client_id, patient_id, nonce)
    return body


def id_token(slug: str, client_id: str, patient_id: str, nonce: str = "") -> str:
    """OpenID Connect Core §2 id_token; SMART's `fhirUser` is the Patient's absolute URL."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": fhir_base(slug),
        "sub": patient_id,
        "aud": client_id,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
        "fhirUser": f"{fhir_base(slug)}/Patient/{patient_id}",
    }
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode({"alg": "RS256", "kid": KID, "typ": "JWT"}, claims, signing_key())


def bearer_token(payer: SandboxPayer, authorization: str) -> SandboxToken:
    """The live access token of an `Authorization: Bearer` header (RFC 6750 §2.1)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise OAuthError("invalid_request", "a Bearer access token is required", status=401)
    token = (
        SandboxToken.objects.filter(
            client__payer=payer, kind=SandboxToken.Kind.ACCESS, token_hash=token_hash(value.strip())
        )
        .select_related("client")
        .first()
    )
    if token is None or token.revoked_at is not None:
        raise OAuthError("invalid_token", "the access token is invalid or revoked", status=401)
    if token.expires_at and token.expires_at <= timezone.now():
        raise OAuthError("invalid_token", "the access token has expired", status=401)
    return token
