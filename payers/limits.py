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
# A caller that finds every slot taken is recorded as waiting (KEYS[2], for a
# moment), so that holders keeping their slot between requests give it up.
_NOW_MS = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
"""
_ACQUIRE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]) * 2)
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
redis.call('ZREM', KEYS[2], ARGV[3])
return 1
"""
)
# Keep a held slot (its lease renewed) unless someone is waiting or it was lost.
_KEEP = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) > 0 or not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 1
"""
)


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
    A holder may keep its slot from one request to the next (`keep`) for as long as
    nobody waits for one; a waiter is seen at the holder's next check.
    """

    POLL_S = 0.05
    WAITING_MS = 1000  # a waiter polls every POLL_S; it counts as waiting this long

    def __init__(self, key: str, limit: int, lease_seconds: float = 120.0) -> None:
        self.key = f"payerbridge:payer-slots:{key}"
        self.waiting_key = f"payerbridge:payer-slot-waiters:{key}"
        self.limit = limit
        self.lease_ms = max(1, int(lease_seconds * 1000))

    def try_acquire(self, token: str | None = None) -> str | None:
        """A slot token, or None when all slots are taken ("" when Redis is down)."""
        token = token or secrets.token_hex(8)
        try:
            taken = _redis().eval(
                _ACQUIRE,
                2,
                self.key,
                self.waiting_key,
                self.limit,
                self.lease_ms,
                token,
                self.WAITING_MS,
            )
        except redis.RedisError as exc:
            logger.warning("payer concurrency limiter unavailable: %s", type(exc).__name__)
            return ""
        return token if taken else None

    def acquire(self, max_wait: float) -> str | None:
        """Wait up to `max_wait` seconds for a slot; None when none came free."""
        deadline = time.monotonic() + max_wait
        token = secrets.token_hex(8)
        while True:
            taken = self.try_acquire(token)
            if taken is not None or time.monotonic() >= deadline:
                return taken
            time.sleep(self.POLL_S)

    def keep(self, token: str) -> bool:
        """Renew the lease of a held slot; False (and the slot released) when another
        caller is waiting for one, or the lease was lost."""
        if not token:
            return True  # Redis was down when it was taken: nothing to renew
        try:
            kept = _redis().eval(_KEEP, 2, self.key, self.waiting_key, self.lease_ms, token)
        except redis.RedisError as exc:
            logger.warning("payer concurrency limiter unavailable: %s", type(exc).__name__)
            return True
        return bool(kept)

    def release(self, token: str) -> None:
        if not token:
            return
        try:
            _redis().zrem(self.key, token)
        except redis.RedisError as exc:
            logger.warning("payer concurrency limiter unavailable: %s", type(exc).__name__)
