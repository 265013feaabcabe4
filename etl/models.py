"""Sync jobs: one pull of a consent's data from its payer (DESIGN.md "States").

A job is `queued` until a worker claims it (a conditional UPDATE, so duplicate
deliveries are harmless), `running` while its heartbeat is fresh, and ends
`succeeded`, `partial` (some types could not be fetched), `failed` or
`cancelled`. A job waiting out a payer's long `Retry-After` stays `queued` with
`next_attempt_at` set; the beat task `etl.dispatch_due` enqueues it then.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone


class SyncJob(models.Model):
    # consent.verification: job records outlive the purge (states, counts, error
    # summaries; no resource content). The etl purge hook scrubs anything else.
    retained_after_purge = "sync job record: states, counts, timings; no resource content"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        FULL = "full", "Full (removes what the payer no longer returns)"
        INCREMENTAL = "incremental", "Incremental (_lastUpdated)"

    OPEN = (State.QUEUED, State.RUNNING)
    DONE = (State.SUCCEEDED, State.PARTIAL, State.FAILED, State.CANCELLED)

    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.CASCADE, related_name="sync_jobs"
    )
    # Denormalised from the consent for the admin's filters and payer health.
    payer = models.ForeignKey("payers.Payer", on_delete=models.CASCADE, related_name="sync_jobs")
    app = models.ForeignKey("consent.App", on_delete=models.CASCADE, related_name="sync_jobs")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.FULL)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    reason = models.CharField(max_length=40, blank=True)  # first_sync, resync, scheduled, admin
    # Incremental jobs ask for resources changed after this instant.
    since = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Set by the claim of the worker running the job; its heartbeats and end match on it.
    run_id = models.CharField(max_length=32, blank=True)
    cancel_requested = models.BooleanField(default=False)

    # Per resource type: {"fetched", "created", "updated", "unchanged", "quarantined", "pages"}.
    counts = models.JSONField(default=dict, blank=True)
    # Whole run: {"created", "updated", "unchanged", "quarantined", "deleted"}.
    totals = models.JSONField(default=dict, blank=True)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0)  # 429s answered by the payer
    bytes = models.PositiveBigIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    dangling = models.PositiveIntegerField(default=0)  # references the payer never served
    # In words an admin understands; never PHI, tokens or query strings.
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open job per consent: a second request is coalesced into it.
            models.UniqueConstraint(
                fields=["consent"],
                condition=Q(state__in=["queued", "running"]),
                name="etl_one_open_job_per_consent",
            )
        ]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"], name="etl_job_state_heartbeat"),
            models.Index(fields=["state", "next_attempt_at"], name="etl_job_state_next"),
        ]

    def __str__(self) -> str:
        return f"Sync {self.pk} of {self.consent_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN

    @property
    def total_resources(self) -> int:
        return sum(int(c.get("fetched", 0)) for c in (self.counts or {}).values())

    def is_stale(self, after: timedelta) -> bool:
        return self.heartbeat_at is None or self.heartbeat_at < timezone.now() - after
