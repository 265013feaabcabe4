"""Periodic housekeeping of consents, flows, codes and tokens.

One model-level function, `run()`, called by the `consent.housekeeping` beat
task (every minute) and by `manage.py consent_housekeeping` — the pattern of
django-oauth-toolkit's `clear_expired`:

- consents past `expires_at` (active or waiting for re-authorization) end as
  `expired` and are purged, so data never outlives its consent by more than a
  minute or two;
- ended consents whose purge did not finish (worker lost, database error)
  are purged again;
- flows abandoned past their lifetime end their pending consent as `failed`
  and are deleted, with expired codes and dead tokens.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from consent import lifecycle
from consent.models import AuthorizationCode, AuthorizationFlow, Consent, IssuedToken

log = logging.getLogger(__name__)

BATCH = 500
# An ended consent not purged after this long had its purge lost or failed.
PURGE_RETRY_AFTER = timedelta(minutes=5)
# Used refresh tokens are kept this long so that reuse still ends the consent.
USED_REFRESH_KEPT = timedelta(days=30)


def run(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    done = {"expired": expire_due(now), "purges_retried": retry_purges(now)}
    done.update(clear_expired(now))
    if any(done.values()):
        log.info("consent housekeeping: %s", done)
    return done


def expire_due(now: datetime) -> int:
    due = Consent.objects.filter(status__in=Consent.REVOCABLE, expires_at__lte=now)
    ended = 0
    for consent in due.order_by("expires_at")[:BATCH]:
        ended += lifecycle.end_consent(consent, status=Consent.Status.EXPIRED, reason="expired")
    return ended


def retry_purges(now: datetime) -> int:
    stale = now - PURGE_RETRY_AFTER
    ids = list(
        Consent.objects.filter(status__in=Consent.ENDED, ended_at__lte=stale, updated_at__lte=stale)
        .exclude(data_state=Consent.DataState.PURGED)
        .values_list("pk", flat=True)[:BATCH]
    )
    for consent_id in ids:
        lifecycle.request_purge(consent_id)
    return len(ids)


def clear_expired(now: datetime) -> dict[str, int]:
    abandoned = Consent.objects.filter(
        status=Consent.Status.PENDING, flows__expires_at__lte=now
    ).exclude(flows__expires_at__gt=now)
    failed = 0
    for consent in abandoned.distinct()[:BATCH]:
        lifecycle.close_flow(consent, Consent.Status.FAILED, "flow_expired")
        failed += 1
    flows = AuthorizationFlow.objects.filter(expires_at__lte=now).delete()[0]
    codes = AuthorizationCode.objects.filter(expires_at__lte=now).delete()[0]
    dead = Q(refresh_token_hash__isnull=True) | Q(revoked_at__isnull=False)
    dead |= Q(consent__status__in=Consent.ENDED)
    dead |= Q(refresh_used_at__lte=now - USED_REFRESH_KEPT)
    tokens = IssuedToken.objects.filter(dead, access_expires_at__lte=now).delete()[0]
    return {"abandoned_flows": failed, "flows": flows, "codes": codes, "tokens": tokens}
