"""Organizations and the apps they register (OAuth clients, RFC 6749 §2)."""

from __future__ import annotations

from django.db import models

from config.crypto import EncryptedTextField
from consent import scopes as scope_rules
from consent.secrets import digest, matches, new_secret


class Organization(models.Model):
    name = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


def default_scopes() -> str:
    return scope_rules.DEFAULT_APP_SCOPES


class App(models.Model):
    """An app registered to read patient data through Payerbridge.

    Confidential apps keep a client secret we store only as a SHA-256 digest;
    public apps have none and must use PKCE (which every app must anyway).
    """

    class Mode(models.TextChoices):
        TEST = "test", "Test (sandbox payers only)"
        LIVE = "live", "Live (real payers only)"

    class SyncFrequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"

    class ConsentPolicy(models.TextChoices):
        ONE_TIME = "one_time", "One-time access for 24 hours"
        CONTINUOUS = "continuous", "Continuous access up to the payer's maximum"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="apps"
    )
    name = models.CharField(max_length=255)
    purpose = models.TextField(blank=True, help_text="Why the app asks, shown to the patient.")
    homepage_url = models.URLField(blank=True)
    client_id = models.CharField(max_length=64, unique=True)
    client_secret_hash = models.CharField(max_length=64, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    redirect_uris = models.JSONField(default=list, help_text="Exact redirect URIs (a list).")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.TEST)
    scopes = models.TextField(default=default_scopes, help_text="Allowed scopes, space separated.")
    consent_policy = models.CharField(
        max_length=20, choices=ConsentPolicy.choices, default=ConsentPolicy.ONE_TIME
    )
    # How often beat re-syncs this app's continuous consents.
    sync_frequency = models.CharField(
        max_length=10, choices=SyncFrequency.choices, default=SyncFrequency.DAILY
    )
    webhook_url = models.URLField(blank=True)
    webhook_secret = EncryptedTextField(blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    # --- credentials -------------------------------------------------------
    @property
    def is_public(self) -> bool:
        return not self.client_secret_hash

    def set_new_client_secret(self) -> str:
        """Make, store (hashed) and return a new client secret; shown once."""
        from django.utils import timezone

        secret = new_secret()
        self.client_secret_hash = digest(secret)
        self.secret_rotated_at = timezone.now()
        return secret

    def set_new_webhook_secret(self) -> str:
        """Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
        import base64
        import os

        self.webhook_secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        return self.webhook_secret

    def clean(self) -> None:
        """Admin edits too: a list of exact redirect URIs of the allowed kinds, known scopes.

        A plain string instead of a list would turn the exact match below into a
        substring match; a `javascript:` URI would land in the "Continue" link.
        """
        from django.core.exceptions import ValidationError

        from consent.apps_registry import validate_redirect_uri

        uris = self.redirect_uris
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            raise ValidationError({"redirect_uris": "A JSON list of one or more URIs."})
        try:
            for uri in uris:
                validate_redirect_uri(uri)
        except ValidationError as exc:
            raise ValidationError({"redirect_uris": exc.messages}) from None
        if unknown := scope_rules.unknown(self.scopes):
            raise ValidationError({"scopes": "Unknown scopes: " + " ".join(unknown)})

    def reaches_payer(self, payer) -> bool:
        """Test-mode apps reach only sandbox payers, live-mode apps only real ones."""
        return bool(payer.is_sandbox) == (self.mode == self.Mode.TEST)

    # --- authlib ClientMixin (RFC 6749 §2) ----------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # With several registered URIs the request must name one (RFC 6749 §3.1.2.3).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope:
            return ""
        if not scope_rules.all_permitted(self.scopes, scope):
            return None
        return scope_rules.normalize(scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match: not a prefix, no normalisation (RFC 9700 §4.1.3).
        return isinstance(self.redirect_uris, list) and redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return matches(client_secret, self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials":
            return not self.is_public
        return grant_type in ("authorization_code", "refresh_token")
