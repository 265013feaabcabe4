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
