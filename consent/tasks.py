"""Celery tasks of the consent app. Thin: they take ids and call services."""

from __future__ import annotations

from celery import shared_task

from consent.models import Consent


@shared_task(name="consent.request_first_sync", acks_late=True, ignore_result=True)
def request_first_sync(consent_id: str) -> None:
    """Record that the first sync of a newly granted consent was requested.

    Until the ETL lands this only records the request on the consent's
    timeline; it deliberately does not touch `data_state`, so nothing claims
    that data was synced.
    """
    consent = Consent.objects.filter(pk=consent_id).first()
    if consent is None or consent.status != Consent.Status.ACTIVE:
        return
    if not consent.events.filter(kind="sync_requested").exists():
        consent.record("sync_requested")
