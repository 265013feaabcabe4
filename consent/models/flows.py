"""The patient's journey through /oauth/authorize, from the app's request to the decision."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from config.crypto import EncryptedTextField

FLOW_LIFETIME = timedelta(minutes=30)


def _flow_expiry():
    return timezone.now() + FLOW_LIFETIME


class AuthorizationFlow(models.Model):
    """One authorization request in progress, bound to one browser session.

    `request_params` is the app's validated authorization request (RFC 6749
    §4.1.1 + PKCE + `aud`), replayed through authlib when the patient decides.
    `payer_state_hash` and `payer_code_verifier` are our own state and PKCE
    toward the payer.
    """

    class Step(models.TextChoices):
        STARTED = "started"
        AT_PAYER = "at_payer"
        REVIEW = "review"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("consent.App", on_delete=models.CASCADE, related_name="flows")
    session_binding = models.CharField(max_length=64)
    request_params = models.JSONField()
    payer = models.ForeignKey("payers.Payer", on_delete=models.CASCADE, null=True, blank=True)
    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.SET_NULL, null=True, blank=True, related_name="flows"
    )
    payer_state_hash = models.CharField(max_length=64, blank=True, db_index=True)
    payer_code_verifier = EncryptedTextField(blank=True)
    step = models.CharField(max_length=20, choices=Step.choices, default=Step.STARTED)
    failure = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_flow_expiry)

    def __str__(self) -> str:
        return f"Flow {self.id} ({self.step})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
