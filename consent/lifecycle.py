"""The consent lifecycle: the one place a consent is granted or ended.

Ending a consent (revocation by patient, app or admin, refresh-token reuse,
expiry) makes every token and code of it fail at once, in the same
transaction, tells the app (`consent.revoked` / `consent.expired` webhook) and
starts the purge of everything it left (`consent.purge`): after commit on a
worker, or right away with `purge_now=True` (`$expunge`, `manage.py
purge_consent`). A flow that never completed (denied, failed) is purged too:
the patient may have signed in at the payer, whose tokens are revoked there.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from consent import webhooks
from consent.models import App, AuthorizationCode, Consent, IssuedToken

log = logging.getLogger(__name__)

ONE_TIME_ACCESS = timedelta(hours=24)
# Continuous consents last up to the payer's maximum; when a payer states none.
DEFAULT_CONTINUOUS_DAYS = 365
CONSENT_TEXT_VERSION = "2026-11-1"


def consent_end_for(app: App, payer, now: datetime) -> datetime:
    if app.consent_policy == App.ConsentPolicy.CONTINUOUS:
        days = getattr(payer, "max_authorization_days", None) or DEFAULT_CONTINUOUS_DAYS
        return now + timedelta(days=days)
    return now + ONE_TIME_ACCESS


@transaction.atomic
def grant(consent: Consent, *, text_version: str = CONSENT_TEXT_VERSION) -> Consent:
    """The patient allowed: the consent becomes active and its first sync is requested."""
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.status != Consent.Status.PENDING:
        raise ValueError(f"consent {consent.pk} is {consent.status}, not pending")
    now = timezone.now()
    consent.status = Consent.Status.ACTIVE
    consent.granted_at = now
    consent.policy = consent.app.consent_policy
    consent.expires_at = consent_end_for(consent.app, consent.payer, now)
    consent.consent_text_version = text_version
    consent.save()
    consent.record("granted", text_version=text_version, expires_at=consent.expires_at.isoformat())

    from consent.tasks import request_first_sync

    consent_id = str(consent.pk)
    transaction.on_commit(lambda: request_first_sync.delay(consent_id))
    return consent


@transaction.atomic
def close_flow(consent: Consent, status: str, reason: str) -> Consent:
    """A flow that never completed: `denied` or `failed` (none of our tokens exist yet).

    The payer's tokens may: the patient can deny on our review page after signing
    in at the payer. Nothing will ever use them, so they are not kept.
    """
    assert status in (Consent.Status.DENIED, Consent.Status.FAILED)
    updated = Consent.objects.filter(pk=consent.pk, status=Consent.Status.PENDING).update(
        status=status, ended_at=timezone.now(), end_reason=reason[:64]
    )
    consent.refresh_from_db()
    if updated:
        consent.record(status, reason=reason[:200])
        # Now, not on a worker: the payer's tokens must not outlive the patient's "Deny".
        consent_id = consent.pk
        transaction.on_commit(lambda: purge_quietly(consent_id))
    return consent


def end_consent(
    consent: Consent,
    *,
    status: str = Consent.Status.REVOKED,
    reason: str,
    purge_now: bool = False,
) -> bool:
    """End a consent now and purge it; True when this call ended it.

    Every token and code is dead when this returns. The purge runs after
    commit: on a worker, or in this process with `purge_now`. Idempotent: an
    already ended consent is not ended again, but its purge is retried when it
    did not finish (the purge itself is idempotent).
    """
    ended = _end(consent, status, reason)
    consent.refresh_from_db()
    if ended or consent.data_state != Consent.DataState.PURGED:
        consent_id = consent.pk
        if purge_now:
            from consent.purge import purge

            purge(consent_id)
            consent.refresh_from_db()
        else:
            transaction.on_commit(lambda: request_purge(consent_id))
    return ended


@transaction.atomic
def _end(consent: Consent, status: str, reason: str) -> bool:
    assert status in (Consent.Status.REVOKED, Consent.Status.EXPIRED)
    now = timezone.now()
    # FOR UPDATE waits for a sync page being written (it holds FOR SHARE on the
    # row, fhircache.repository.save_page); pages after this commit see the end.
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    if locked.status in Consent.ENDED:
        return False
    locked.status = status
    locked.ended_at = now
    locked.end_reason = reason[:64]
    locked.save(update_fields=["status", "ended_at", "end_reason", "updated_at"])
    IssuedToken.objects.filter(consent=locked, revoked_at__isnull=True).update(revoked_at=now)
    AuthorizationCode.objects.filter(consent=locked, used_at__isnull=True).update(used_at=now)
    locked.record(status, reason=reason)
    webhooks.emit(locked, f"consent.{status}", {"reason": reason[:64]})
    log.info("consent %s ended: %s (%s)", locked.pk, status, reason)
    return True


def request_purge(consent_id) -> None:
    from consent.lifecycle_tasks import purge_consent

    purge_consent.delay(str(consent_id))


def purge_quietly(consent_id) -> None:
    """Purge in this process; a failure is on the timeline and housekeeping retries it."""
    from consent.purge import purge

    try:
        purge(consent_id)
    except Exception:
        log.exception("purge of consent %s failed; housekeeping will retry", consent_id)
