"""Sync job bookkeeping: request (coalesced), claim, heartbeat, end, reap, dispatch.

Workers claim a job with a conditional UPDATE (`queued` → `running` with a
fresh `run_id`), so a message delivered twice runs the job once. Every later
write of the run matches on its `run_id`: a run the reaper gave up on cannot
overwrite the run that replaced it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from consent.models import Consent
from etl.models import SyncJob

log = logging.getLogger(__name__)

OPEN_CONSENT = (Consent.Status.ACTIVE, Consent.Status.REAUTH_REQUIRED)
# data_state values a sync may move (never purging/purged: those belong to the purge).
SYNC_OWNED = (
    Consent.DataState.NONE,
    Consent.DataState.SYNCING,
    Consent.DataState.READY,
    Consent.DataState.PARTIAL,
    Consent.DataState.FAILED,
)


def enqueue(job_id: int, countdown: float | None = None) -> None:
    from etl.tasks import sync_job

    sync_job.apply_async((job_id,), countdown=countdown)


def request_sync(
    consent: Consent,
    *,
    kind: str = SyncJob.Kind.FULL,
    reason: str = "",
    since=None,
    enqueue_it: bool = True,
) -> SyncJob:
    """The consent's open job, or a new one enqueued on commit (one open job per consent).

    `enqueue_it=False` (the foreground `sync_consent` command) leaves the job for the
    caller to run; if the caller dies, `dispatch_due` sends it to a worker later."""
    with transaction.atomic():
        existing = SyncJob.objects.filter(consent=consent, state__in=SyncJob.OPEN).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                job = SyncJob.objects.create(
                    consent=consent,
                    payer_id=consent.payer_id,
                    app_id=consent.app_id,
                    kind=kind,
                    reason=reason[:40],
                    since=since if kind == SyncJob.Kind.INCREMENTAL else None,
                )
        except IntegrityError:  # another request created it meanwhile
            return SyncJob.objects.get(consent=consent, state__in=SyncJob.OPEN)
        Consent.objects.filter(
            pk=consent.pk, data_state__in=(Consent.DataState.NONE, Consent.DataState.FAILED)
        ).update(data_state=Consent.DataState.SYNCING)
        job_id = job.pk
        if enqueue_it:
            transaction.on_commit(lambda: enqueue(job_id))
        return job


def claim(job_id: int) -> SyncJob | None:
    """Take a queued job for this run; None when it is not (or no longer) ours to run."""
    now = timezone.now()
    run_id = secrets.token_hex(8)
    claimed = (
        SyncJob.objects.filter(pk=job_id, state=SyncJob.State.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(
            state=SyncJob.State.RUNNING,
            run_id=run_id,
            heartbeat_at=now,
            next_attempt_at=None,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    job = SyncJob.objects.select_related("consent__payer", "consent__app").get(pk=job_id)
    if job.started_at is None:
        SyncJob.objects.filter(pk=job_id).update(started_at=now)
        job.started_at = now
    return job


def heartbeat(job: SyncJob, **progress) -> bool:
    """Record liveness and progress; False when the run lost its claim or was cancelled."""
    alive = SyncJob.objects.filter(
        pk=job.pk, run_id=job.run_id, state=SyncJob.State.RUNNING, cancel_requested=False
    ).update(heartbeat_at=timezone.now(), **progress)
    return bool(alive)


def finish(job: SyncJob, state: str, *, error: str = "", **fields) -> bool:
    """End the run in `state`; False when it was no longer ours (nothing written)."""
    now = timezone.now()
    duration = int((now - (job.started_at or now)).total_seconds() * 1000)
    ended = SyncJob.objects.filter(pk=job.pk, run_id=job.run_id).update(
        state=state,
        finished_at=now,
        heartbeat_at=now,
        last_error=error[:2000],
        duration_ms=duration,
        **fields,
    )
    return bool(ended)


def reschedule(job: SyncJob, wait_seconds: float, error: str, **fields) -> None:
    """Back to `queued` until `next_attempt_at` (the beat task enqueues it then)."""
    at = timezone.now() + timedelta(seconds=max(1.0, wait_seconds))
    SyncJob.objects.filter(pk=job.pk, run_id=job.run_id).update(
        state=SyncJob.State.QUEUED,
        run_id="",
        next_attempt_at=at,
        last_error=error[:2000],
        **fields,
    )


def cancel(job: SyncJob) -> bool:
    """Admin "Cancel": a queued job ends now; a running one stops at its next heartbeat."""
    now = timezone.now()
    if SyncJob.objects.filter(pk=job.pk, state=SyncJob.State.QUEUED).update(
        state=SyncJob.State.CANCELLED, finished_at=now, last_error="cancelled by an admin"
    ):
        return True
    return bool(
        SyncJob.objects.filter(pk=job.pk, state=SyncJob.State.RUNNING).update(cancel_requested=True)
    )


def set_data_state(consent: Consent, state: str, *, only_from=SYNC_OWNED) -> None:
    Consent.objects.filter(pk=consent.pk, data_state__in=only_from).update(
        data_state=state, updated_at=timezone.now()
    )


def reap_stale() -> list[int]:
    """Running jobs whose heartbeat stopped (a killed worker): queued again and enqueued."""
    cutoff = timezone.now() - timedelta(seconds=settings.ETL_STALE_AFTER_S)
    stale = list(
        SyncJob.objects.filter(state=SyncJob.State.RUNNING, heartbeat_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    revived = []
    for job_id in stale:
        if SyncJob.objects.filter(
            pk=job_id, state=SyncJob.State.RUNNING, heartbeat_at__lt=cutoff
        ).update(
            state=SyncJob.State.QUEUED, run_id="", next_attempt_at=None, heartbeat_at=timezone.now()
        ):
            log.warning("sync job %s: heartbeat stale, re-enqueued", job_id)
            enqueue(job_id)
            revived.append(job_id)
    return revived


def dispatch_due() -> list[int]:
    """Queued jobs whose wait is over, and queued jobs whose message seems lost (a broker
    restart), are enqueued. `heartbeat_at` of a queued job is when it was last sent, so
    each is sent again at most once per stale period; claims are conditional, so an
    extra message is harmless."""
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.ETL_STALE_AFTER_S)
    quiet = Q(heartbeat_at__lt=lost_before) | Q(
        heartbeat_at__isnull=True, created_at__lt=lost_before
    )
    due = SyncJob.objects.filter(state=SyncJob.State.QUEUED).filter(
        Q(next_attempt_at__lte=now) | (Q(next_attempt_at__isnull=True) & quiet)
    )
    sent = []
    for job_id in due.values_list("pk", flat=True):
        if SyncJob.objects.filter(pk=job_id, state=SyncJob.State.QUEUED).update(
            next_attempt_at=None, heartbeat_at=now
        ):
            enqueue(job_id)
            sent.append(job_id)
    return sent
