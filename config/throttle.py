"""Counting failed attempts in Redis, shared by every process (brute-force throttling).

A key (client id, user name, source address) that failed `limit` times within
`window` seconds is refused until its window ends; the window starts at the
first failure, so a legitimate user waits at most `window` seconds. Successes
do not reset a counter: an attacker who also holds valid credentials would
otherwise clear it. A Redis outage lets requests through (logged): throttling
must not take the login down with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger("payerbridge.throttle")

# INCR, and start the window on the first failure only.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return n
"""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


@dataclass(frozen=True)
class FailureThrottle:
    """`limit` failures per `window` seconds for each key of one `scope`."""

    scope: str
    limit: int
    window: int

    def _key(self, key: str) -> str:
        return f"payerbridge:throttle:{self.scope}:{key}"

    def retry_after(self, *keys: str) -> int:
        """Seconds until every one of `keys` may try again; 0 when none is blocked."""
        try:
            client = _redis()
            wait = 0
            for key in filter(None, keys):
                raw = client.get(self._key(key))
                if raw is not None and int(raw) >= self.limit:
                    wait = max(wait, client.ttl(self._key(key)), 1)
            return wait
        except redis.RedisError as exc:
            logger.warning("throttle %s unavailable, not enforced: %s", self.scope, exc)
            return 0

    def failed(self, *keys: str) -> None:
        try:
            client = _redis()
            for key in filter(None, keys):
                client.eval(_FAIL, 1, self._key(key), self.window)
        except redis.RedisError as exc:
            logger.warning("throttle %s unavailable, failure not counted: %s", self.scope, exc)

    def reset(self, *keys: str) -> None:
        """Forget `keys` (tests, and an operator unblocking someone)."""
        try:
            _redis().delete(*[self._key(k) for k in keys if k])
        except redis.RedisError:  # pragma: no cover - best effort
            pass


def source_address(request) -> str:
    """The peer address (REMOTE_ADDR). Behind a reverse proxy every client shares the
    proxy's address, so the per-address limit then counts them together."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"
