"""Apps, and the consents patients give them."""

from __future__ import annotations

import uuid

from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class App(models.Model):
    """An app registered to read patient data through Payerbridge."""

    class Mode(models.TextChoices):
        TEST = "test", "Test (sandbox payers only)"
        LIVE = "live", "Live (real payers only)"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="apps"
    )
    name = models.CharField(max_length=255)
    client_id = models.CharField(max_length=64, unique=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.TEST)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Consent(models.Model):
    """One patient's permission for one app to read one payer's data.

    It is also the compartment of the cache: every cached row belongs to one.
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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.PROTECT, related_name="consents")
    payer = models.ForeignKey("payers.Payer", on_delete=models.PROTECT, related_name="consents")
    patient_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    data_state = models.CharField(max_length=20, choices=DataState.choices, default=DataState.NONE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status"]), models.Index(fields=["app", "status"])]

    def __str__(self) -> str:
        return f"Consent {self.id} ({self.status})"
