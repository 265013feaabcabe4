"""Celery tasks of the consent app. Thin: they take ids and call services."""

from __future__ import annotations

from celery import shared_task

from consent.models import Consent


@shared_task(name="consent.request_first_sync", acks_late=True, ignore_result=True)
def request_first_sync(consent_id: str) -> None:
    """The consent was granted: its first sync job is created and enqueued.

    Idempotent: a redelivered message finds the job (open or done) and does not
    start another. The ETL owns the job (`etl.jobs.request_sync`).
    """
    from etl import jobs
    from etl.models import SyncJob

    consent = Consent.objects.filter(pk=consent_id).first()
    if consent is None or consent.status != Consent.Status.ACTIVE:
        return
    if SyncJob.objects.filter(consent=consent, reason="first_sync").exists():
        return
    consent.record("sync_requested")
    jobs.request_sync(consent, reason="first_sync")
