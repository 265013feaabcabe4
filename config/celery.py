"""The Celery app: configuration from Django settings, tasks from each app."""

import os

from celery import Celery
from celery.schedules import crontab  # noqa: F401 - beat entries use it as they grow

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("payerbridge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic housekeeping. Each entry names a task that is also reachable from a
# management command, so an admin can run the same work by hand.
app.conf.beat_schedule = {
    # SMART discovery of every payer that is due (daily when healthy, backoff when failing);
    # by hand: `manage.py discover_payers --due`.
    "payers-discover-due": {"task": "payers.discover_due_payers", "schedule": 15 * 60},
    # Sync jobs: re-enqueue those whose worker died (stale heartbeat) and those whose
    # Retry-After wait is over (never a countdown past the visibility timeout).
    "etl-housekeeping": {"task": "etl.housekeeping", "schedule": 15},
    # Continuous consents: re-sync at the app's frequency, renew payer tokens before they lapse.
    "etl-continuous": {"task": "etl.continuous", "schedule": 5 * 60},
    # Webhook deliveries whose backoff outgrew a Celery countdown (consent.webhooks).
    "consent-deliver-due-webhooks": {"task": "consent.deliver_due_webhooks", "schedule": 60},
    # Expire and purge consents, retry lost purges, clear dead flows, codes and tokens;
    # by hand: `manage.py consent_housekeeping`.
    "consent-housekeeping": {"task": "consent.housekeeping", "schedule": 60},
}
