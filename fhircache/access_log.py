"""The data-access audit of the FHIR API: who read what kind of data, when, with what result.

Why here and not in `consent`: the rows describe accesses to the cache through
fhircache's own API, and `consent` must not import `fhircache` (the purge
registry keeps that direction one-way); fhircache already refers to consents.

A row holds no PHI: no resource ids, no query strings, no content; only the app,
the consent, the interaction, the resource type, how many resources were
returned, the HTTP status, the time and the request id (which joins the row to
the access log line of the same request).

Writing: `recorder` is a `fhircache.api.access` recorder (registered in
`FhircacheConfig.ready`). It turns the request's `AccessRecord` into rows and
hands them to `fhircache.audit_writer`, which inserts them in batches off the
request path (every `FHIR_AUDIT_FLUSH_SECONDS`), or, with that setting at 0,
when the response is closed. No client waits for the insert.
"""

from __future__ import annotations

import logging

from django.db import models
from django.utils import timezone

log = logging.getLogger(__name__)


class DataAccess(models.Model):
    """One data access through the FHIR API (one per batch entry)."""

    # consent.verification: the audit outlives the purge (ids, types, counts; no PHI).
    retained_after_purge = "data-access audit: interaction, type, count, status; no PHI"

    class Interaction(models.TextChoices):
        READ = "read"
        SEARCH = "search-type"
        EVERYTHING = "$everything"
        VALIDATE = "$validate"
        BATCH = "batch"
        EXPUNGE = "$expunge"

    at = models.DateTimeField(default=timezone.now)
    app = models.ForeignKey(
        "consent.App", null=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    consent = models.ForeignKey(
        "consent.Consent", null=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    interaction = models.CharField(max_length=32, choices=Interaction.choices)
    resource_type = models.CharField(max_length=64, blank=True)
    result_count = models.PositiveIntegerField(default=0)
    status = models.PositiveSmallIntegerField()
    request_id = models.CharField(max_length=128, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "fhircache_data_access"
        verbose_name = "data access"
        verbose_name_plural = "data accesses"
        ordering = ["-at", "-id"]
        indexes = [
            # the admin's per-consent list, newest first
            models.Index(fields=["consent", "-at"], name="fhircache_access_consent"),
            models.Index(fields=["app", "-at"], name="fhircache_access_app"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.interaction} {self.resource_type} {self.status}"


def rows_of(record) -> list[DataAccess]:
    """The audit rows of one request's `fhircache.api.access.AccessRecord`: its
    own, then one per child (the entries of a batch)."""
    now = timezone.now()
    rows = []
    for r in (record, *record.children):
        rows.append(
            DataAccess(
                at=now,
                app_id=r.app_id or record.app_id,
                consent_id=r.consent_id or record.consent_id,
                interaction=(r.interaction or "")[:32],
                resource_type=(r.resource_type or "")[:64],
                result_count=max(0, int(r.count or 0)),
                status=r.status or record.status,
                request_id=(record.request_id or "")[:128],
                duration_ms=r.duration_ms,
            )
        )
    return rows


def recorder(request, record, response) -> None:
    """`fhircache.api.access` recorder: hands the rows to `fhircache.audit_writer`,
    which writes them off the request path."""
    from fhircache import audit_writer

    audit_writer.submit(rows_of(record), response)
