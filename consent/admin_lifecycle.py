"""Consent admin helpers: the lifecycle filter and the purge action's work."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import QuerySet
from django.utils import timezone

from consent import lifecycle
from consent.housekeeping import PURGE_RETRY_AFTER
from consent.models import Consent

# Timeline entries whose detail the admin shows (they hold counts and reasons, no PHI).
DETAILED_EVENTS = frozenset(
    {"purged", "purge_failed", "payer_revocation_failed", "admin_phi_viewed", "revoked", "expired"}
)


class LifecycleFilter(admin.SimpleListFilter):
    title = "lifecycle"
    parameter_name = "lifecycle"

    def lookups(self, request, model_admin):
        return [
            ("due", "Due to expire within 24 h"),
            ("purged", "Purged"),
            ("purging", "Purge running"),
            ("failed", "Failed to purge"),
        ]

    def queryset(self, request, queryset: QuerySet[Consent]) -> QuerySet[Consent]:
        now = timezone.now()
        value = self.value()
        if value == "due":
            return queryset.filter(
                status__in=Consent.REVOCABLE, expires_at__lte=now + timedelta(hours=24)
            )
        if value == "purged":
            return queryset.filter(data_state=Consent.DataState.PURGED)
        ended_unpurged = queryset.filter(status__in=Consent.ENDED).exclude(
            data_state=Consent.DataState.PURGED
        )
        stale = now - PURGE_RETRY_AFTER
        if value == "purging":
            return ended_unpurged.filter(updated_at__gt=stale)
        if value == "failed":
            return ended_unpurged.filter(updated_at__lte=stale)
        return queryset


def queue_purges(queryset: QuerySet[Consent]) -> tuple[int, int]:
    """(queued, skipped): ended consents get their purge (again); open ones are skipped."""
    queued = skipped = 0
    for consent in queryset:
        if consent.status in Consent.ENDED:
            lifecycle.request_purge(consent.pk)
            queued += 1
        else:
            skipped += 1
    return queued, skipped
