"""`GET /healthz`: does each service this gateway needs answer right now?

Infrastructure only: the database, Redis, and at least one Celery worker
consuming our queue. 200 when all are ok, 503 naming what is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

TIMEOUT_S = 1.5


def _timed(check: Callable[[], str]) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        status = "ok"
    except Exception as exc:
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        status = "down"
    return {
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "detail": detail,
    }


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "SELECT 1 answered"


def check_redis() -> str:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
    )
    try:
        client.ping()
    finally:
        client.close()
    return "PING answered"


def check_workers() -> str:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=TIMEOUT_S)
        # A broadcast cannot know how many workers will answer, so it waits out
        # its timeout; stopping at the first reply keeps the usual case fast.
        # Only when that first worker serves other queues do we wait for all.
        for limit in (1, None):
            replies = celery_app.control.broadcast(
                "active_queues", reply=True, timeout=TIMEOUT_S, limit=limit, connection=conn
            )
            serving = sorted(
                name
                for reply in replies or []
                for name, queues in reply.items()
                if any(q.get("name") == queue for q in queues)
            )
            if serving or not replies:
                break
    if not serving:
        raise RuntimeError(f"no worker replied for queue {queue!r}")
    return f"worker {serving[0]} serves queue {queue!r}"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    body = {"database": _timed(check_database), "redis": _timed(check_redis)}
    if body["redis"]["status"] == "ok":
        body["workers"] = _timed(check_workers)
    else:
        # Without the broker no worker can answer; don't wait on it.
        body["workers"] = {"status": "down", "latency_ms": 0, "detail": "broker unreachable"}
    healthy = all(part["status"] == "ok" for part in body.values())
    return JsonResponse(body, status=200 if healthy else 503)
