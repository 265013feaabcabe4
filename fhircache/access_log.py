"""The data-access audit of the FHIR API: who read what kind of data, when, with what result.

Why here and not in `consent`: the rows describe accesses to the cache through
fhircache's own API, and `consent` must not import `fhircache` (the purge
registry keeps that direction one-way); fhircache already refers to consents.

A row holds no PHI: no resource ids, no query strings, no content; only the app,
the consent, the interaction, the resource type, how many resources were
returned, the HTTP status, the time and the request id (which joins the row to
the access log line of the same request).

Writing: `record()` buffers rows on the request; `attach()` hands them to the
response, which inserts them in one statement when the server closes it, i.e.
after the last byte went to the client (`HttpResponseBase.close()` runs its
resource closers before `request_finished`, so the connection is still there).
The read path itself never waits for the audit insert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import DatabaseError, models
from django.utils import timezone

log = logging.getLogger(__name__)

_BUFFER = "_pb_access_records"


class DataAccess(models.Model):
    """One data access through the FHIR API (one per batch entry)."""

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


@dataclass(frozen=True)
class Who:
    """The caller of an access, from its bearer token."""

    app_id: int | None
    consent_id: object | None  # UUID

    @classmethod
    def of_token(cls, token) -> Who:
        return cls(getattr(token, "app_id", None), getattr(token, "consent_id", None))


def record(
    request,
    who: Who,
    interaction: str,
    *,
    status: int,
    resource_type: str = "",
    count: int = 0,
    duration_ms: int | None = None,
) -> None:
    """Buffer one access row on the request (written by `attach`'s closer)."""
    row = DataAccess(
        at=timezone.now(),
        app_id=who.app_id,
        consent_id=who.consent_id,
        interaction=interaction[:32],
        resource_type=(resource_type or "")[:64],
        result_count=max(0, int(count)),
        status=status,
        request_id=str(getattr(request, "request_id", ""))[:128],
        duration_ms=duration_ms,
    )
    buffer = getattr(request, _BUFFER, None)
    if buffer is None:
        buffer = []
        setattr(request, _BUFFER, buffer)
    buffer.append(row)


def pending(request) -> list[DataAccess]:
    return getattr(request, _BUFFER, None) or []


def attach(request, response) -> None:
    """Have the response write the request's buffered rows once it is closed."""
    rows = pending(request)
    if not rows:
        return
    setattr(request, _BUFFER, [])
    response._resource_closers.append(lambda: flush(rows))


def flush(rows: list[DataAccess]) -> None:
    """One INSERT for the rows; an audit failure is logged, never raised at a client."""
    try:
        DataAccess.objects.bulk_create(rows)
    except DatabaseError as exc:
        log.error("data-access audit: %d row(s) not written: %s", len(rows), type(exc).__name__)
