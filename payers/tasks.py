"""Celery tasks of the payer directory: thin wrappers over `payers.discovery`."""

from __future__ import annotations

from celery import shared_task

from payers.discovery import discover, discover_many, discovery_due
from payers.models import Payer


@shared_task(name="payers.discover_payer", acks_late=True, time_limit=120, soft_time_limit=100)
def discover_payer(payer_id: int) -> None:
    payer = Payer.objects.filter(pk=payer_id).first()
    if payer is not None:
        discover(payer)


@shared_task(name="payers.discover_due_payers", time_limit=600, soft_time_limit=540)
def discover_due_payers() -> int:
    """Beat entry: discover every payer that is due (backoff per payer), concurrently.

    One task with a thread pool rather than a task per payer, so a directory of
    unreachable payers holds one worker slot for a bounded time, not the queue.
    """
    due = Payer.objects.filter(pk__in=discovery_due())
    return sum(ok for _, ok in discover_many(due))
