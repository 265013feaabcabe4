"""The signed hidden field that carries a sign-in in progress, as a careful payer keeps it.

Between the sign-in page, the consent page and the redirect, the validated
authorize request travels in a signed, time-limited hidden field (the sandbox
keeps no login session). Signing alone would let that field be replayed or
carried to another browser, so each one also

- is bound to the browser that got it: a random value in a cookie of its own
  (`sbx_txn`, HttpOnly, SameSite=Lax), whose digest the signed data holds;
- is good once: its id is claimed in Redis (SET NX, shared by every sandbox
  process) when the step it belongs to succeeds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache

import redis
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

MAX_AGE_S = 600
COOKIE = "sbx_txn"


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def _browser_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def browser_key(request: HttpRequest) -> str:
    """This browser's key, or a new one (`remember_browser` sets it on the response)."""
    return request.COOKIES.get(COOKIE) or secrets.token_urlsafe(24)


def remember_browser(response: HttpResponse, key: str) -> HttpResponse:
    response.set_cookie(
        COOKIE,
        key,
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=settings.SANDBOX_BASE_URL.startswith("https://"),
    )
    return response


def dumps(data: dict, salt: str, browser: str) -> str:
    """Sign `data` for this browser, under a fresh id."""
    return signing.dumps(
        {**data, "_txn": secrets.token_urlsafe(16), "_browser": _browser_digest(browser)}, salt=salt
    )


def loads(value: str, salt: str, request: HttpRequest) -> dict | None:
    """The data, if signed, fresh, for this browser and not yet used; else None."""
    try:
        data = signing.loads(value, salt=salt, max_age=MAX_AGE_S)
    except signing.BadSignature:
        return None
    browser = request.COOKIES.get(COOKIE, "")
    if not browser or not hmac.compare_digest(data.get("_browser", ""), _browser_digest(browser)):
        return None
    if _redis().exists(_used_key(data)):
        return None
    return data


def claim(data: dict) -> bool:
    """Mark the transaction used; False when another request used it first."""
    return bool(_redis().set(_used_key(data), 1, nx=True, ex=MAX_AGE_S + 60))


def payload(data: dict) -> dict:
    """The request data without the transaction's own bookkeeping."""
    return {k: v for k, v in data.items() if k not in ("_txn", "_browser")}


def _used_key(data: dict) -> str:
    return f"payerbridge:sandbox-txn:{data.get('_txn', '')}"
