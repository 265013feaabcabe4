"""Celery tasks of the ETL. Tasks take ids and stay thin."""

from __future__ import annotations

import os
import socket
import time

import redis
from celery import shared_task
from django.conf import settings

PROBE_TTL_S = 3600


def probe_key(nonce: str) -> str:
    return f"payerbridge:probe:{nonce}"


@shared_task(name="etl.probe", ignore_result=False)
def probe(nonce: str, hold_seconds: float = 0.0) -> dict:
    """Prove the broker-to-worker path end to end; carries no PHI.

    Each run appends "start:<pid>" and "done:<pid>" to a Redis list named by the
    nonce, so an operator (or a test) can see which worker ran it and whether a
    killed worker's message was delivered again.
    """
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = probe_key(nonce)
    pid = os.getpid()
    client.rpush(key, f"start:{pid}")
    client.expire(key, PROBE_TTL_S)
    if hold_seconds:
        time.sleep(min(hold_seconds, 300))
    client.rpush(key, f"done:{pid}")
    return {"nonce": nonce, "hostname": socket.gethostname(), "pid": pid}


# --- sync jobs (thin: ids in, services do the work) ----------------------------


@shared_task(
    name="etl.sync_job",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def sync_job(job_id: int) -> None:
    """Run one sync job; a duplicate delivery finds it claimed and does nothing."""
    from etl.sync import run_job

    run_job(job_id)


# Each task names its soft limit too: the global soft limit (600 s) above a
# smaller hard limit makes Celery refuse to apply the task at all.
@shared_task(name="etl.housekeeping", ignore_result=True, soft_time_limit=100, time_limit=120)
def housekeeping() -> None:
    """Beat: re-enqueue jobs whose worker died and jobs whose wait is over."""
    from etl import jobs

    jobs.reap_stale()
    jobs.dispatch_due()


@shared_task(name="etl.continuous", ignore_result=True, soft_time_limit=270, time_limit=300)
def continuous() -> None:
    """Beat: re-sync continuous consents that are due; renew payer tokens about to lapse."""
    from etl import schedule

    schedule.request_due_syncs()
    schedule.refresh_expiring_tokens()
