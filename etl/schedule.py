"""Continuous consents: re-sync at the app's frequency, keep payer tokens alive.

Beat calls `request_due_syncs` (and `refresh_expiring_tokens`). A consent is
due when its last sync started longer ago than its app's `sync_frequency`
(daily, weekly, monthly). The re-sync is incremental (`_lastUpdated=gt` the
last successful sync's start, where the payer supports it) unless no
successful full sync happened within `FULL_EVERY` (or the frequency, if
longer): a full sync also removes what the payer no longer returns.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from consent import payer_tokens
from consent.models import App, Consent, PayerGrant
from etl import jobs
from etl.models import SyncJob
from payers.oauth_client import PayerOAuthError

log = logging.getLogger(__name__)

FREQUENCY = {
    App.SyncFrequency.DAILY: timedelta(days=1),
    App.SyncFrequency.WEEKLY: timedelta(days=7),
    App.SyncFrequency.MONTHLY: timedelta(days=30),
}
FULL_EVERY = timedelta(days=7)
# Access tokens that lapse within this are renewed by the beat task (it runs more often).
REFRESH_AHEAD = timedelta(minutes=15)


def continuous_consents():
    return Consent.objects.filter(
        status=Consent.Status.ACTIVE,
        policy=App.ConsentPolicy.CONTINUOUS,
        data_state__in=(
            Consent.DataState.READY,
            Consent.DataState.PARTIAL,
            Consent.DataState.FAILED,
        ),
    )


def request_due_syncs(now: datetime | None = None) -> list[SyncJob]:
    now = now or timezone.now()
    last_job = SyncJob.objects.filter(consent=OuterRef("pk")).order_by("-created_at")
    consents = (
        continuous_consents()
        .exclude(sync_jobs__state__in=SyncJob.OPEN)
        .annotate(last_sync=Subquery(last_job.values("created_at")[:1]))
        .select_related("app")
    )
    requested = []
    for consent in consents:
        interval = FREQUENCY.get(consent.app.sync_frequency, FREQUENCY[App.SyncFrequency.DAILY])
        if consent.last_sync is not None and consent.last_sync > now - interval:
            continue
        kind, since = next_kind(consent, now, interval)
        requested.append(jobs.request_sync(consent, kind=kind, since=since, reason="scheduled"))
    return requested


def next_kind(consent: Consent, now: datetime, interval: timedelta) -> tuple[str, datetime | None]:
    ok = SyncJob.objects.filter(consent=consent, state=SyncJob.State.SUCCEEDED)
    stamps = ok.aggregate(
        last_ok=Max("started_at"), last_full=Max("started_at", filter=Q(kind=SyncJob.Kind.FULL))
    )
    last_full = stamps["last_full"]
    if last_full is None or last_full < now - max(FULL_EVERY, interval):
        return SyncJob.Kind.FULL, None
    return SyncJob.Kind.INCREMENTAL, stamps["last_ok"]


def refresh_expiring_tokens(now: datetime | None = None) -> int:
    """Renew payer tokens of continuous consents before they lapse; returns how many."""
    soon = (now or timezone.now()) + REFRESH_AHEAD
    grants = PayerGrant.objects.filter(
        consent__in=continuous_consents(), expires_at__lt=soon
    ).exclude(refresh_token="")
    renewed = 0
    for grant in grants.select_related("consent"):
        try:
            payer_tokens.refresh_after_rejection(grant.consent, grant.access_token)
            renewed += 1
        except (payer_tokens.PayerAuthorizationLapsed, PayerOAuthError) as exc:
            log.warning("payer token of consent %s not renewed: %s", grant.consent_id, exc)
    return renewed
