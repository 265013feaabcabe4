"""Our own limits toward each payer, shared by every worker through Redis.

`MinuteRateLimiter` enforces `Payer.rate_limit_per_minute`; `ConcurrencyLimiter`
enforces `Payer.max_concurrency`. Both protect payers from us, so a Redis
outage lets traffic through (logged) rather than stopping every sync.
"""

from __future__ import annotations

import logging
import secrets
import time
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger("payers.http")

# One slot = one member of a sorted set scored by its lease expiry (Redis server
# clock, so workers' clocks may disagree). Expired leases are dropped before
# counting: a worker killed mid-request loses its slot after `lease` seconds.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
"""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


class MinuteRateLimiter:
    """At most `limit` calls per clock minute per payer, counted in Redis (all processes)."""

    def __init__(self, key: str, limit: int) -> None:
        self.key, self.limit = key, limit

    def acquire(self) -> float:
        """0 when a call may go now, else seconds until the next window opens."""
        now = time.time()
        key = f"payerbridge:payer-rate:{self.key}:{int(now // 60)}"
        try:
            pipe = _redis().pipeline()
            pipe.incr(key)
            pipe.expire(key, 120)
            count = pipe.execute()[0]
        except redis.RedisError as exc:
            logger.warning("payer rate limiter unavailable: %s", type(exc).__name__)
            return 0.0
        return 0.0 if count <= self.limit else 60 - now % 60


class ConcurrencyLimiter:
    """A counting semaphore of `limit` slots per payer, with leases (all processes).

    A lease outlives any single request we make (it is set from the session's
    timeouts), so it only ever expires for a holder that died without releasing.
    """

    POLL_S = 0.05

    def __init__(self, key: str, limit: int, lease_seconds: float = 120.0) -> None:
        self.key = f"payerbridge:payer-slots:{key}"
        self.limit = limit
        self.lease_ms = max(1, int(lease_seconds * 1000))

    def try_acquire(self) -> str | None:
        """A slot token, or None when all slots are taken ("" when Redis is down)."""
        token = secrets.token_hex(8)
        try:
            taken = _redis().eval(_ACQUIRE, 1, self.key, self.limit, self.lease_ms, token)
        except redis.RedisError as exc:
            logger.warning("payer concurrency limiter unavailable: %s", type(exc).__name__)
            return ""
        return token if taken else None

    def acquire(self, max_wait: float) -> str | None:
        """Wait up to `max_wait` seconds for a slot; None when none came free."""
        deadline = time.monotonic() + max_wait
        while True:
            token = self.try_acquire()
            if token is not None or time.monotonic() >= deadline:
                return token
            time.sleep(self.POLL_S)

    def release(self, token: str) -> None:
        if not token:
            return
        try:
            _redis().zrem(self.key, token)
        except redis.RedisError as exc:
            logger.warning("payer concurrency limiter unavailable: %s", type(exc).__name__)
