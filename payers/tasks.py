"""Celery tasks of the payer directory: thin wrappers over `payers.discovery`."""

from __future__ import annotations

from celery import shared_task

from payers.discovery import discover, discovery_due
from payers.models import Payer


@shared_task(name="payers.discover_payer", acks_late=True, time_limit=120, soft_time_limit=100)
def discover_payer(payer_id: int) -> None:
    payer = Payer.objects.filter(pk=payer_id).first()
    if payer is not None:
        discover(payer)


@shared_task(name="payers.discover_due_payers")
def discover_due_payers() -> int:
    """Beat entry: queue discovery for every payer that is due (backoff per payer)."""
    due = discovery_due()
    for payer_id in due:
        discover_payer.delay(payer_id)
    return len(due)
