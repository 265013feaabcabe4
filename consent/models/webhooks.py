"""Webhook deliveries to apps: one row per event per app, its attempts and outcome."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class WebhookDelivery(models.Model):
    """One event for one app (Standard Webhooks message), delivered with retries.

    `id` is the `webhook-id` header: the same across retries and redeliveries,
    so an app can deduplicate. `body` keeps the exact bytes that are signed and
    sent every time. Bodies hold ids, states and counts — never PHI — which is
    why the rows outlive a purge (`retained_after_purge`).
    """

    retained_after_purge = "delivery log: event ids, states and counts, no PHI"

    class State(models.TextChoices):
        PENDING = "pending"
        RETRYING = "retrying"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("consent.App", on_delete=models.CASCADE, related_name="webhooks")
    consent = models.ForeignKey(
        "consent.Consent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhooks",
    )
    event_type = models.CharField(max_length=40)
    url = models.URLField(max_length=500)
    body = models.TextField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker sending right now holds the row until then (a conditional UPDATE claims it).
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    # [{"at", "status", "error", "ms"}], newest last, bounded
    log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_due"),
            models.Index(fields=["app", "-created_at"], name="webhook_app_recent"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} → {self.app_id} ({self.state})"
