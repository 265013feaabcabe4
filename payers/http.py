"""The one outbound HTTP chokepoint for payer traffic.

Every call to a payer (discovery, OAuth, FHIR) goes through a `PayerSession`:
default timeouts, our User-Agent, bounded retries with exponential backoff on
connection errors and 5xx for idempotent methods, `Retry-After` honoured on
429/503 up to a small cap (RFC 9110 §10.2.3: delay-seconds or HTTP-date), logs
that name method and URL without the query string (codes and tokens travel
there), and a hard refusal to send an `Authorization` header to any origin that
is not the payer's own.

`Payer.max_concurrency` is a slot per request in flight, counted in Redis across
workers; a thread following a chain of pages may keep its slot from one request
to the next (`keeping_slot`) while no other caller waits for one.

The checks live in `send()`, which requests calls for every request and every
redirect hop, so a subclass (authlib's `OAuth2Session` mixed in on top) cannot
bypass them.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests

from payers.limits import ConcurrencyLimiter, MinuteRateLimiter
from payers.models import origin_of

if TYPE_CHECKING:
    from payers.models import Payer

logger = logging.getLogger("payers.http")

USER_AGENT = "Payerbridge/0.1 (+https://github.com/payerbridge/payerbridge)"
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
MAX_RETRIES = 3
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
# Waits up to this long are slept through; longer ones go back to the caller
# (a Celery task re-queues itself with the countdown instead of holding a worker).
MAX_RETRY_AFTER_S = 10.0
RETRY_AFTER_CEILING_S = 24 * 3600.0
# How often a slot kept between requests (`PayerSession.keeping_slot`) is checked for
# waiters and its lease renewed: the longest another caller waits for it.
KEEP_CHECK_S = 0.5
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})


# The most we read of one payer response (a page of 10 MB is already unusual).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# Bytes asked of the socket at a time: every read lets go of the GIL and waits to get
# it back, which costs a sync's chain of pages more than the buffer does.
READ_CHUNK = 1024 * 1024


@dataclass
class SessionStats:
    """What one session did, for sync job records (one session per thread)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429s


class PayerHTTPError(Exception):
    """A payer call that failed; `reason` is readable and carries no secrets or PHI."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayerRateLimited(PayerHTTPError):
    """The payer asked us to wait longer than we wait inline."""

    def __init__(self, retry_after: float, url: str = "") -> None:
        super().__init__(f"rate limited by payer; retry after {retry_after:.0f}s {url}".strip())
        self.retry_after = retry_after


class PayerBusy(PayerRateLimited):
    """All of the payer's concurrency slots (`Payer.max_concurrency`) stayed taken."""


class ForeignOriginRefused(PayerHTTPError):
    """Refused to send a payer's credentials to an origin that is not the payer's."""


def redact(url: str) -> str:
    """The URL without query string or fragment, for logs and error reasons."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (RFC 9110 §10.2.3).

    delay-seconds (ASCII digits only) or an HTTP-date; anything else is None, so
    the caller backs off as if the header were absent. Waits are capped at
    `RETRY_AFTER_CEILING_S`: a year-long "Retry-After" is garbage, not a plan.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Ten digits already exceed the ceiling; int() refuses thousands of them.
        seconds = int(value) if len(value) <= 10 else RETRY_AFTER_CEILING_S
        return float(min(seconds, RETRY_AFTER_CEILING_S))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), RETRY_AFTER_CEILING_S)


class PayerSession(requests.Session):
    """A `requests.Session` bound to one payer's origins (see module docstring)."""

    def __init__(
        self,
        allowed_origins: set[str],
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = MAX_RETRIES,
        max_retry_after: float = MAX_RETRY_AFTER_S,
        max_limit_wait: float | None = None,
        limiter: MinuteRateLimiter | None = None,
        slots: ConcurrencyLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.allowed_origins = set(allowed_origins)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        # How long to sleep through our own per-minute limit (default: as for Retry-After).
        # A sync waits out a clock minute rather than restart a job that needs more
        # requests than one minute allows.
        self.max_limit_wait = max_retry_after if max_limit_wait is None else max_limit_wait
        self.limiter = limiter
        self.slots = slots
        self._sleep = sleep
        # requests follows redirects by calling send() again from inside send():
        # that hop runs under the slot its first request already holds.
        self._holding = threading.local()
        self.stats = SessionStats()
        self.headers["User-Agent"] = USER_AGENT
        # requests reads the proxy and CA-bundle variables and ~/.netrc on every request
        # (about a millisecond on a sync's chain of `next` links); they are read once per
        # origin instead (`merge_environment_settings`), and netrc never: a netrc entry
        # would replace the payer's bearer token with Basic credentials.
        self.trust_env = False
        self._environment: dict[str, tuple[dict[str, str], str | None]] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        origin = origin_of(url or "")
        if origin not in self._environment:
            ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            self._environment[origin] = (requests.utils.get_environ_proxies(url), ca_bundle)
        env_proxies, ca_bundle = self._environment[origin]
        proxies = dict(proxies or {})
        for scheme, proxy in env_proxies.items():
            proxies.setdefault(scheme, proxy)
        if (verify is True or verify is None) and ca_bundle:
            verify = ca_bundle
        return super().merge_environment_settings(url, proxies, stream, verify, cert)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self._refuse_foreign_credentials(request)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        method = (request.method or "GET").upper()
        idempotent = method in IDEMPOTENT_METHODS
        url = redact(request.url or "")
        attempt = 0
        while True:
            self._wait_for_rate_limit(url)
            started = time.monotonic()
            self.stats.requests += 1
            try:
                response = self._send_in_slot(request, url, **kwargs)
            except requests.RequestException as exc:
                reason = _describe_exception(exc, url)
                logger.warning("payer %s %s failed: %s", method, url, reason)
                retriable = isinstance(exc, requests.ConnectionError | requests.Timeout)
                if idempotent and retriable and attempt < self.max_retries:
                    attempt += 1
                    self.stats.retries += 1
                    self._sleep(_backoff(attempt))
                    continue
                raise PayerHTTPError(reason) from None
            elapsed_ms = (time.monotonic() - started) * 1000
            logger.info(
                "payer %s %s -> %s (%.0f ms)", method, url, response.status_code, elapsed_ms
            )
            wait = self._retry_wait(response, idempotent, attempt, url)
            if wait is None:
                return response
            response.close()
            attempt += 1
            self.stats.retries += 1
            self._sleep(wait)

    def _send_in_slot(
        self, request: requests.PreparedRequest, url: str, **kwargs: Any
    ) -> requests.Response:
        """One attempt, holding one of the payer's concurrency slots while it runs."""
        if self.slots is None or getattr(self._holding, "slot", None) is not None:
            return super().send(request, **kwargs)
        slot = self._kept_slot()
        if slot is None:
            slot = self.slots.acquire(max_wait=self.max_retry_after)
            if slot is None:
                raise PayerBusy(1.0, url)
            self._holding.checked = time.monotonic()
        self._holding.slot = slot
        try:
            return super().send(request, **kwargs)
        finally:
            self._holding.slot = None
            if getattr(self._holding, "keep", False):
                self._holding.kept = slot
            else:
                self.slots.release(slot)

    @contextmanager
    def keeping_slot(self) -> Iterator[None]:
        """Requests of this thread inside the block keep their concurrency slot from one
        to the next (a chain of `next` links: two Redis round trips less per page) while
        no other caller waits for one; it is released when the block ends."""
        self._holding.keep = True
        try:
            yield
        finally:
            self._holding.keep = False
            kept, self._holding.kept = getattr(self._holding, "kept", None), None
            if kept is not None and self.slots is not None:
                self.slots.release(kept)

    def _kept_slot(self) -> str | None:
        """The slot kept from this thread's last request, while it is still ours; checked
        (and its lease renewed) every KEEP_CHECK_S, when it is given up to a waiter."""
        slot, self._holding.kept = getattr(self._holding, "kept", None), None
        if slot is None:
            return None
        if time.monotonic() - self._holding.checked < KEEP_CHECK_S:
            return slot
        if self.slots.keep(slot):
            self._holding.checked = time.monotonic()
            return slot
        # Given up: the waiter polls every POLL_S; it takes the slot before we ask again.
        self._sleep(2 * self.slots.POLL_S)
        return None

    def _wait_for_rate_limit(self, url: str) -> None:
        """Our own limit for this payer (`Payer.rate_limit_per_minute`), shared by all workers."""
        while self.limiter is not None:
            wait = self.limiter.acquire()
            if wait <= 0:
                return
            if wait > self.max_limit_wait:
                raise PayerRateLimited(max(wait, 1.0), url)
            self._sleep(wait)

    def _retry_wait(
        self, response: requests.Response, idempotent: bool, attempt: int, url: str
    ) -> float | None:
        """Seconds to wait before retrying, or None to hand the response back."""
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            self.stats.throttled += 1
        if status == 429 or (status == 503 and retry_after is not None):
            # A 429 was not processed, so retrying is safe whatever the method.
            if status == 503 and not idempotent:
                return None
            wait = retry_after if retry_after is not None else _backoff(attempt + 1)
            if wait > self.max_retry_after or attempt >= self.max_retries:
                raise PayerRateLimited(max(wait, 1.0), url)
            return wait
        if status in RETRY_STATUSES and idempotent and attempt < self.max_retries:
            return _backoff(attempt + 1)
        return None

    def _refuse_foreign_credentials(self, request: requests.PreparedRequest) -> None:
        """Neither an `Authorization` header nor a body leaves for a foreign origin.

        Token requests carry client secrets, codes and refresh tokens in their
        body, and requests re-sends a body on a 307/308 redirect wherever the
        `Location` points (it strips only the Authorization header).
        """
        if "Authorization" not in request.headers and not request.body:
            return
        origin = origin_of(request.url or "")
        if origin not in self.allowed_origins:
            raise ForeignOriginRefused(
                f"refused to send credentials to {origin or 'an invalid URL'}, "
                "which is not one of the payer's own origins"
            )

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET a JSON document; any failure becomes a `PayerHTTPError` with a reason."""
        response = self.get(url, headers={"Accept": "application/json"}, **kwargs)
        if response.status_code >= 400:
            raise PayerHTTPError(f"HTTP {response.status_code} from {redact(url)}")
        return json_body(response)


def json_body(response: requests.Response) -> Any:
    """The parsed JSON of a payer's response, or a `PayerHTTPError` saying what is wrong.

    The reason names the URL (no query), the content type and where parsing
    stopped, never the body itself (it may hold PHI).
    """
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("Content-Type") or "no content type"
        where = ""
        if not response.content:
            where = "; the body is empty"
        elif isinstance(exc, requests.exceptions.JSONDecodeError):
            where = f"; {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise PayerHTTPError(
            f"response from {redact(response.url or '')} is not valid JSON ({kind}{where})"
        ) from None


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter (half to all of the step), so workers that
    failed together do not retry together."""
    step = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return step * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


def read_limited(response: requests.Response, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The body of a streamed response, refusing more than `limit` bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise PayerHTTPError(
            f"response from {redact(response.url or '')} is larger than {limit // 2**20} MB"
        )
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayerHTTPError(
                    f"response from {redact(response.url or '')} is larger than {limit // 2**20} MB"
                )
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise PayerHTTPError(_describe_exception(exc, redact(response.url or ""))) from None
    finally:
        response.close()
    return b"".join(chunks)


def _describe_exception(exc: requests.RequestException, url: str) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out calling {url}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error calling {url}"
    if isinstance(exc, requests.ConnectionError):
        return f"could not connect to {url}"
    return f"{type(exc).__name__} calling {url}"


def _lease_seconds(timeout: float | tuple[float, float]) -> float:
    """Longer than any attempt can take with these timeouts, so only the dead lose a lease."""
    total = sum(timeout) if isinstance(timeout, tuple) else timeout
    return max(60.0, 4 * total)


def payer_session(payer: Payer, **options: Any) -> PayerSession:
    """A session that may carry `payer`'s credentials only to the payer's own origins.

    `Payer.rate_limit_per_minute` and `Payer.max_concurrency` hold across every
    worker: they are counted in Redis under the payer's id.
    """
    key = f"{payer.pk}:{payer.slug}"
    if payer.rate_limit_per_minute and payer.pk and "limiter" not in options:
        options["limiter"] = MinuteRateLimiter(key, payer.rate_limit_per_minute)
    if payer.max_concurrency and payer.pk and "slots" not in options:
        lease = _lease_seconds(options.get("timeout", DEFAULT_TIMEOUT))
        options["slots"] = ConcurrencyLimiter(key, payer.max_concurrency, lease)
    return PayerSession(payer.own_origins, **options)
