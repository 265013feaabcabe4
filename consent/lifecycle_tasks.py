"""Celery tasks of the consent lifecycle and webhooks. Thin: ids in, services called.

Registered from `ConsentConfig.ready()` (Celery autodiscovers only `tasks.py`).
"""

from __future__ import annotations

from celery import shared_task

from consent import webhooks


@shared_task(name="consent.deliver_webhook", acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    webhooks.deliver(delivery_id)


@shared_task(name="consent.deliver_due_webhooks", ignore_result=True)
def deliver_due_webhooks() -> int:
    """Beat: deliveries whose (long) backoff has passed go back to the workers."""
    due = webhooks.due_deliveries()
    for delivery_id in due:
        deliver_webhook.delay(str(delivery_id))
    return len(due)


@shared_task(
    name="consent.purge_consent",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3000,
    time_limit=3300,
)
def purge_consent(consent_id: str) -> None:
    """Purge an ended consent (idempotent; a concurrent run makes this one a no-op)."""
    from consent.purge import ConsentNotEnded, purge

    try:
        purge(consent_id)
    except ConsentNotEnded:
        return


@shared_task(name="consent.housekeeping", ignore_result=True, soft_time_limit=300, time_limit=360)
def housekeeping() -> None:
    """Beat, every minute: expire and purge, retry lost purges, clear dead flows/codes/tokens."""
    from consent.housekeeping import run

    run()
