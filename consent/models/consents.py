"""Consents, their timeline, and the payer authorization behind each one."""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils import timezone

from config.crypto import EncryptedTextField


def _receipt_nonce() -> str:
    return secrets.token_urlsafe(16)


class Consent(models.Model):
    """One patient's permission for one app to read one payer's data.

    It is also the compartment of the cache: every cached row belongs to one.
    Status and data state follow DESIGN.md "States"; only `consent.lifecycle`
    ends a consent.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        ACTIVE = "active"
        EXPIRED = "expired"
        REVOKED = "revoked"
        REAUTH_REQUIRED = "reauth_required"
        DENIED = "denied"
        FAILED = "failed"

    class DataState(models.TextChoices):
        NONE = "none"
        SYNCING = "syncing"
        READY = "ready"
        PARTIAL = "partial"
        FAILED = "failed"
        PURGING = "purging"
        PURGED = "purged"

    ENDED = (Status.EXPIRED, Status.REVOKED, Status.DENIED, Status.FAILED)
    # What the patient, the app or an admin can still revoke (data may be cached).
    REVOCABLE = (Status.ACTIVE, Status.REAUTH_REQUIRED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("consent.App", on_delete=models.PROTECT, related_name="consents")
    payer = models.ForeignKey("payers.Payer", on_delete=models.PROTECT, related_name="consents")
    # The patient's FHIR id as our API serves it: the token's `patient`, the
    # id_token's `fhirUser` and the cached Patient's id (the payer's id, or its
    # mapping when that is not a valid FHIR id: fhircache.normalize.ids.cache_id).
    patient_id = models.CharField(max_length=64, blank=True)
    # The payer's own id of the patient, exactly as the payer gave it: what a
    # sync asks the payer for (`Patient/{id}`, `?patient={id}`).
    payer_patient_id = models.TextField(blank=True, default="", db_default="")
    # The app's own opaque reference for this consent (its user id, say), passed at
    # /oauth/authorize and echoed in /api/consents, introspection and webhooks.
    external_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    data_state = models.CharField(max_length=20, choices=DataState.choices, default=DataState.NONE)
    scope = models.TextField(blank=True)
    policy = models.CharField(max_length=20, blank=True)
    consent_text_version = models.CharField(max_length=20, blank=True)
    granted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=64, blank=True)
    receipt_nonce = models.CharField(max_length=32, default=_receipt_nonce, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status"]), models.Index(fields=["app", "status"])]

    def __str__(self) -> str:
        return f"Consent {self.id} ({self.status})"

    @property
    def is_usable(self) -> bool:
        """Whether tokens of this consent may be honoured right now."""
        return self.status == self.Status.ACTIVE and (
            self.expires_at is None or self.expires_at > timezone.now()
        )

    def record(self, kind: str, **detail) -> ConsentEvent:
        return ConsentEvent.objects.create(consent=self, kind=kind, detail=detail)


class ConsentEvent(models.Model):
    """The consent's timeline (admin): what happened, when. Never holds secrets or PHI."""

    retained_after_purge = "the consent's timeline: states, times, counts, no PHI"

    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"


class PayerGrant(models.Model):
    """The payer's tokens for one consent (encrypted at rest); the ETL reads them."""

    consent = models.OneToOneField(Consent, on_delete=models.CASCADE, related_name="payer_grant")
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField(blank=True)
    id_token = EncryptedTextField(blank=True)
    token_type = models.CharField(max_length=20, default="Bearer")
    scope = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Payer grant of {self.consent_id}"
