"""The per-consent FHIR store.

One row per (consent, resource type, id). The row carries the normalized JSON as
the exact bytes orjson produced (served verbatim, never re-dumped from a model)
and a denormalized search index extracted at load time (`fhircache.indexing`).

Why one row with index arrays instead of side tables of index rows: every query
is scoped to one consent, and the composite primary key leads with the consent,
so any search first narrows to one patient's rows (10^2..10^5) through the
primary key and then tests the small arrays of those rows. Loading writes one
row per resource (no fan-out to index tables), and deleting a consent is one
range delete on the primary key — no partition per consent (thousands of
partitions hurt planning) and no index tables to chase. Only
`fhircache.repository` reads or writes these tables.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class CachedResource(models.Model):
    pk = models.CompositePrimaryKey("consent", "resource_type", "resource_id")
    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    # meta.lastUpdated as the payer sent it, else when this version was stored
    last_updated = models.DateTimeField()
    # blake2b of the normalized content without its fetch time: decides whether
    # a re-sync is a new version
    content_hash = models.BinaryField(max_length=16)
    content = models.BinaryField()
    source_id = models.TextField(blank=True)  # the payer's own id, as sent (any length)
    # search index; entries are tab-separated (tabs cannot occur in codes,
    # systems, ids or our normalized strings)
    tokens = ArrayField(models.TextField(), default=list)  # "param\tsystem\tcode"
    refs = ArrayField(models.TextField(), default=list)  # "param\tType/id"
    dates = ArrayField(models.TextField(), default=list)  # "param\tlow\thigh" (UTC)
    strings = ArrayField(models.TextField(), default=list)  # "param\tnormalized"
    links = ArrayField(models.TextField(), default=list)  # every local "Type/id" referenced

    class Meta:
        db_table = "fhircache_resource"
        indexes = [
            # _lastUpdated sort and keyset paging within one consent and type
            models.Index(
                fields=["consent", "resource_type", "last_updated", "resource_id"],
                name="fhircache_res_lastupd",
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


class QuarantinedResource(models.Model):
    """A resource that failed structural validation: kept out of the store."""

    consent = models.ForeignKey("consent.Consent", on_delete=models.CASCADE, related_name="+")
    resource_type = models.CharField(max_length=64, blank=True)
    source_id = models.CharField(max_length=255, blank=True)
    digest = models.CharField(max_length=64)  # of the bytes received: makes reloads idempotent
    reason = models.TextField()
    outcome = models.JSONField()  # the OperationOutcome
    content = models.TextField()  # the JSON as received
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "fhircache_quarantine"
        constraints = [
            models.UniqueConstraint(fields=["consent", "digest"], name="fhircache_quarantine_once")
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.source_id} (quarantined)"


from fhircache.access_log import DataAccess  # noqa: E402 - the FHIR API's audit rows

__all__ = ["CachedResource", "DataAccess", "QuarantinedResource"]


class StoredOutcome(models.Model):
    """The OperationOutcome of a stored resource that failed structural validation.

    Keyed like the resource (consent, type, id) and written in the same page
    transaction: present exactly while the stored version is flagged (its
    `meta.tag` carries our data-quality code), gone when a re-sync brings a
    valid version, when the resource is deleted and when the consent is purged.
    Only `fhircache.repository` writes it; `$validate` on a stored resource
    returns it (`repository.read_outcome`).
    """

    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    outcome = models.JSONField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "fhircache_outcome"
        constraints = [
            # leads with the consent: per-consent reads and the purge are range scans
            models.UniqueConstraint(
                fields=["consent", "resource_type", "resource_id"], name="fhircache_outcome_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id} (outcome)"
