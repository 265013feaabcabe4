"""The purge of an ended consent: every Django app deletes its own part.

`purge(consent_id)` marks the consent `purging`, calls each installed app's
`AppConfig.purge_consent(consent_id) -> dict[str, int]` (so `consent` never
imports `fhircache` or `etl`), then marks it `purged` and writes the counts on
the timeline. It is idempotent (a second run deletes nothing and succeeds) and
safe to run concurrently: a PostgreSQL advisory lock keyed by the consent lets
one run at a time, and the other returns at once. A failure is recorded on the
timeline (`purge_failed`) and leaves `data_state` at `purging`, which the
housekeeping retries and the admin lists as "failed to purge".

Consent's own part (`ConsentConfig.purge_consent` calls `purge_own_rows`): the
payer's tokens are revoked at the payer (RFC 7009) and deleted, whether or
not the payer answered; our tokens, codes and flows are deleted; the
patient's id at the payer is cleared from the consent row; the consent's Redis
keys are deleted. What stays is the consent row (states, times, app, payer),
its timeline, webhook log and the data-access audit — none of them holds PHI.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from consent.models import AuthorizationCode, AuthorizationFlow, Consent, IssuedToken, PayerGrant
from payers import oauth_client

log = logging.getLogger(__name__)


class ConsentNotEnded(Exception):
    """Only an ended consent is purged (end it through `consent.lifecycle` first)."""


@dataclass
class PurgeReport:
    consent_id: str
    ran: bool  # False: another purge of this consent was running
    deleted: dict[str, dict[str, int]] = field(default_factory=dict)


def purge(consent_id) -> PurgeReport:
    consent = Consent.objects.get(pk=consent_id)
    if consent.status not in Consent.ENDED:
        raise ConsentNotEnded(f"consent {consent.pk} is {consent.status}; end it first")
    with _advisory_lock(consent.pk) as acquired:
        if not acquired:
            return PurgeReport(str(consent.pk), ran=False)
        Consent.objects.filter(pk=consent.pk).update(
            data_state=Consent.DataState.PURGING, updated_at=timezone.now()
        )
        consent.record("purge_started")
        try:
            deleted = {
                config.label: config.purge_consent(consent.pk)
                for config in apps.get_app_configs()
                if callable(getattr(config, "purge_consent", None))
            }
        except Exception as exc:
            consent.record("purge_failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
            raise
        Consent.objects.filter(pk=consent.pk).update(
            data_state=Consent.DataState.PURGED, updated_at=timezone.now(), **_patient_ids_cleared()
        )
        consent.record("purged", deleted=deleted)
    log.info("consent %s purged: %s", consent.pk, deleted)
    return PurgeReport(str(consent.pk), ran=True, deleted=deleted)


# The patient's ids at the payer (as served and as the payer wrote it) on the consent row.
PATIENT_ID_FIELDS = ("patient_id", "payer_patient_id")


def _patient_ids_cleared() -> dict[str, str]:
    names = {f.name for f in Consent._meta.concrete_fields}
    return {name: "" for name in PATIENT_ID_FIELDS if name in names}


@contextmanager
def _advisory_lock(consent_id):
    """A session-level advisory lock on the consent (not a transaction: purges batch)."""
    key = int.from_bytes(hashlib.blake2b(f"purge:{consent_id}".encode(), digest_size=8).digest())
    key -= 1 << 63  # into PostgreSQL's signed bigint range
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- consent's own part -----------------------------------------------------------


def purge_own_rows(consent_id) -> dict[str, int]:
    consent = Consent.objects.select_related("payer").get(pk=consent_id)
    counts = {"payer_grants": revoke_payer_grant(consent)}
    counts["tokens"] = IssuedToken.objects.filter(consent=consent).delete()[0]
    counts["codes"] = AuthorizationCode.objects.filter(consent=consent).delete()[0]
    counts["flows"] = AuthorizationFlow.objects.filter(consent=consent).delete()[0]
    counts["redis_keys"] = delete_redis_keys(consent.pk)
    return counts


def revoke_payer_grant(consent: Consent) -> int:
    """Revoke the payer's tokens at the payer, then delete them; 1 if there were any.

    The refresh token goes first (at most payers it takes its access tokens
    with it). A payer that cannot be reached does not keep its tokens here:
    they are deleted anyway and the failure is on the timeline.
    """
    grant = PayerGrant.objects.filter(consent=consent).first()
    if grant is None:
        return 0
    tokens = [(grant.refresh_token, "refresh_token"), (grant.access_token, "access_token")]
    try:
        for value, hint in tokens:
            if value and not oauth_client.revoke(consent.payer, value, hint):
                consent.record("payer_revocation_unsupported", payer=consent.payer.slug)
                break
        else:
            consent.record("payer_tokens_revoked", payer=consent.payer.slug)
    except oauth_client.PayerOAuthError as exc:
        consent.record("payer_revocation_failed", payer=consent.payer.slug, reason=exc.reason)
    return PayerGrant.objects.filter(pk=grant.pk).delete()[0]


def delete_redis_keys(consent_id) -> int:
    """Every Redis key that names the consent (progress, locks, caches of any app)."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    keys = list(client.scan_iter(match=f"*{consent_id}*", count=1000))
    return client.delete(*keys) if keys else 0
