"""What our authorization server issues: codes, tokens (hashed), and its signing key."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from config.crypto import EncryptedTextField


class AuthorizationCode(models.Model):
    """A single-use code bound to client, redirect URI and PKCE challenge (RFC 6749 §4.1.2)."""

    code_hash = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey("consent.App", on_delete=models.CASCADE, related_name="codes")
    consent = models.ForeignKey("consent.Consent", on_delete=models.CASCADE, related_name="codes")
    redirect_uri = models.TextField()
    scope = models.TextField(blank=True)
    code_challenge = models.CharField(max_length=128)
    code_challenge_method = models.CharField(max_length=10)
    nonce = models.CharField(max_length=255, blank=True)  # OpenID Connect, echoed in id_token
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"code for {self.consent_id} ({'used' if self.used_at else 'unused'})"

    # authlib AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class IssuedTokenQuerySet(models.QuerySet):
    def live(self) -> IssuedTokenQuerySet:
        """Tokens that may still be honoured: the one definition (see `IssuedToken.is_live`).

        Not revoked, the app still active, and either no consent (client
        credentials) or a consent that is active and not past its end. Whether
        the access part expired or the refresh part was used is per kind.
        """
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, app__is_active=True).filter(
            models.Q(consent__isnull=True)
            | models.Q(consent__status="active")
            & (models.Q(consent__expires_at__isnull=True) | models.Q(consent__expires_at__gt=now))
        )

    def live_access(self) -> IssuedTokenQuerySet:
        return self.live().filter(access_expires_at__gt=timezone.now())

    def live_refresh(self) -> IssuedTokenQuerySet:
        return self.live().filter(refresh_token_hash__isnull=False, refresh_used_at__isnull=True)


class IssuedToken(models.Model):
    """An access token and (maybe) its refresh token; only their digests are stored.

    A refresh rotates: the old row's refresh token is marked used and a new row
    is issued. Presenting a used refresh token again is reuse (RFC 9700 §4.14.2)
    and ends the consent. Client-credentials tokens have no consent.
    """

    access_token_hash = models.CharField(max_length=64, unique=True)
    refresh_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    app = models.ForeignKey("consent.App", on_delete=models.CASCADE, related_name="tokens")
    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.CASCADE, null=True, blank=True, related_name="tokens"
    )
    grant_type = models.CharField(max_length=32)
    scope = models.TextField(blank=True)
    issued_at = models.DateTimeField(default=timezone.now)
    access_expires_at = models.DateTimeField()
    refresh_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = IssuedTokenQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["consent"])]

    def __str__(self) -> str:
        return f"{self.grant_type} token of {self.app_id} (consent {self.consent_id})"

    def is_live(self, kind: str = "access_token") -> bool:
        """The row-level twin of `IssuedTokenQuerySet.live_access` / `live_refresh`."""
        if self.is_revoked():
            return False
        if kind == "refresh_token":
            return bool(self.refresh_token_hash) and self.refresh_used_at is None
        return self.access_expires_at > timezone.now()

    # --- authlib TokenMixin -------------------------------------------------
    def check_client(self, client) -> bool:
        return self.app_id == client.pk

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.access_expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return self.access_expires_at <= timezone.now()

    def is_revoked(self) -> bool:
        """Dead whatever its kind: revoked, app deactivated, or consent no longer usable."""
        return (
            self.revoked_at is not None
            or not self.app.is_active
            or (self.consent is not None and not self.consent.is_usable)
        )

    def get_user(self):
        return self.consent

    def get_client(self):
        return self.app


class SigningKey(models.Model):
    """RS256 key for id_tokens: private JWK encrypted at rest, public one at /oauth/jwks."""

    kid = models.CharField(max_length=64, unique=True)
    private_jwk = EncryptedTextField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.kid
