"""The FHIR API's per-app request rate limit, counted in Redis by every web process.

A fixed window of `settings.FHIR_RATE_LIMIT_WINDOW` seconds holds at most
`settings.FHIR_RATE_LIMIT_PER_WINDOW` requests per app (0 turns the limit off).
Over it the API answers 429 with issue code `throttled` and the
`X-RateLimit-Limit` / `-Remaining` / `-Reset` headers (`-Reset` in seconds
until the window opens again, as in the IETF RateLimit header draft), so a
client can tell "slow down" from "still syncing" (429 `transient`).

`gate` plugs this into the FHIR API (`fhircache.api.access`). One INCR+EXPIRE
round trip per request, pipelined. A Redis outage lets requests
through (logged): the limit protects capacity, it does not guard data.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

from fhircache.api.outcome import FhirError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until the window opens again
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def window_count(limit: int, window: int, used: int, now: float) -> Quota:
    """The quota after `used` requests in the window that holds `now` (pure)."""
    reset = max(1, math.ceil(window - now % window))
    return Quota(limit, max(0, limit - used), reset, used <= limit)


def take(app_key: str | None) -> Quota | None:
    """Count one request of the app; None when no limit applies (off, or Redis down)."""
    limit = settings.FHIR_RATE_LIMIT_PER_WINDOW
    window = settings.FHIR_RATE_LIMIT_WINDOW
    if limit <= 0 or not app_key:
        return None
    now = time.time()
    key = f"payerbridge:fhir-rate:{app_key}:{int(now // window)}"
    try:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window * 2)
        used = pipe.execute()[0]
    except (redis.RedisError, OSError, ValueError) as exc:
        # ValueError: redis-py reconnecting on a socket another thread just closed
        log.warning("FHIR API rate limiter unavailable: %s", type(exc).__name__)
        return None
    return window_count(limit, window, used, now)


def gate(request, record) -> None:
    """`fhircache.api.access` gate: count the request, refuse it over the limit.

    The headers go on every answer of a limited app (errors included)."""
    app = getattr(record.token, "app", None)
    # keyed by client_id: unique for good, where a row id may be reused by another database
    quota = take(getattr(app, "client_id", None) or record.app_id)
    if quota is None:
        return
    record.headers.update(quota.headers())
    if not quota.allowed:
        raise FhirError(
            429,
            "throttled",
            f"Too many requests: at most {quota.limit} per"
            f" {settings.FHIR_RATE_LIMIT_WINDOW} s for this app; retry in {quota.reset} s.",
            headers={"Retry-After": str(quota.reset)},
        )
