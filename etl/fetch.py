"""Fetching a payer's pages: one GET, one search followed through its `next` links.

Everything goes through `payers.http` (timeouts, retries, rate limits, the
payer's token only to its own origins). This module adds what a sync needs on
top: the consent's payer token (renewed before it lapses, refreshed once on a
401), a bound on the response size, the page's links read while the raw bytes go
to the loader, and protection against paging that never ends (a link seen twice,
too many pages, a run of empty pages).

A search is a chain of dependent requests, so the fetch thread does as little as
it can between two of them: where a Bundle's members before `entry` say where
the next page is (`bundle_head`), it follows that link at once and the thread
that loads the page parses the rest (`Fetcher.complete`), asking for the page
again if it turns out cut short.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

import orjson
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from consent import payer_tokens
from etl.references import page_keys
from payers.http import PayerHTTPError, PayerRateLimited, payer_session, read_limited, redact
from payers.models import Payer, origin_of

PAGE_ATTEMPTS = 3  # a page that came back unusable (bad JSON, cut short) is asked again
MAX_EMPTY_PAGES = 20  # consecutive empty pages that still link onwards
FHIR_ACCEPT = "application/fhir+json, application/json;q=0.9"
# Our own per-minute limit toward a payer is waited out inline (at most a clock minute).
OWN_LIMIT_WAIT_S = 61.0


class FetchError(Exception):
    """A search or read that could not be completed; `reason` is for admins (no PHI)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransportError(FetchError):
    """Timeouts, refused connections: `payers.http` already retried them."""


class NotAvailable(FetchError):
    """The payer answered 4xx (not 401/429): no such type, operation or resource."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


class _Unusable(Exception):
    """A response that is not a usable FHIR resource (cut short, not JSON): asked again."""


@dataclass
class Page:
    label: str  # what was asked: "ExplanationOfBenefit", "Patient/$everything", ...
    number: int
    body: bytes
    url: str = ""
    # No entries: counts toward a run of empty pages.
    empty: bool = False
    # Parsed whole (valid JSON, `keys` and `entries_by_type` filled); a page that is not
    # is completed by `Fetcher.complete` on the thread that loads it.
    parsed: bool = False
    keys: set[tuple[str, str]] = field(default_factory=set)  # (type, payer id) of entries
    entries_by_type: dict[str, int] = field(default_factory=dict)
    # The parse of `body`, kept by `complete` for the loader (`fhircache.loader.Parsed`)
    # so that it is not parsed twice; never kept for pages still queued (memory).
    value: dict | None = None


class PayerToken:
    """The consent's payer access token, shared by a job's fetch threads."""

    def __init__(self, consent) -> None:
        self.consent = consent
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: datetime | None = None

    def get(self) -> str:
        with self._lock:
            if self._token is None or (self._renew_at and timezone.now() >= self._renew_at):
                self._token, self._renew_at = payer_tokens.access_token_and_expiry(self.consent)
            return self._token

    def rejected(self, token: str) -> str:
        """The payer answered 401 to `token`: refresh once (a lapse raises)."""
        with self._lock:
            if self._token == token:
                self._token, self._renew_at = payer_tokens.refresh_after_rejection(
                    self.consent, token
                )
            return self._token or ""


class Fetcher:
    """GETs for one payer and consent; safe to share between threads (a session each)."""

    def __init__(self, payer: Payer, token: PayerToken, *, max_pages: int) -> None:
        self.payer = payer
        self.token = token
        self.max_pages = max_pages
        self.base = payer.fhir_base_url.rstrip("/")
        self._local = threading.local()
        self._sessions: list = []
        self._lock = threading.Lock()
        self.bytes = 0

    @property
    def session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            timeout = (5.0, float(settings.ETL_PAYER_READ_TIMEOUT_S))
            session = self._local.session = payer_session(
                self.payer, timeout=timeout, max_limit_wait=OWN_LIMIT_WAIT_S
            )
            with self._lock:
                self._sessions.append(session)
        return session

    def totals(self) -> dict[str, int]:
        with self._lock:
            sessions = list(self._sessions)
        return {
            "requests": sum(s.stats.requests for s in sessions),
            "retries": sum(s.stats.retries for s in sessions),
            "throttled": sum(s.stats.throttled for s in sessions),
            "bytes": self.bytes,
        }

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def capability(self) -> dict | None:
        """The payer's CapabilityStatement, or None when it cannot be had."""
        try:
            response = self.session.get(self.url("metadata"), headers={"Accept": FHIR_ACCEPT})
            body = read_limited(response)
            return orjson.loads(body) if response.status_code == 200 else None
        except (PayerHTTPError, orjson.JSONDecodeError):
            return None

    def get(self, url: str, what: str) -> bytes:
        """One authenticated GET; 200's body, else a FetchError/NotAvailable (or rate limit)."""
        if origin_of(url) not in self.payer.own_origins:
            raise FetchError(f"{what}: the payer linked to another server ({origin_of(url)})")
        token = self.token.get()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_ACCEPT}
            try:
                response = self.session.get(url, headers=headers, stream=True)
            except PayerRateLimited:
                raise
            except PayerHTTPError as exc:
                raise TransportError(f"{what}: {exc.reason}") from None
            status = response.status_code
            if status == 401 and attempt == 1:
                response.close()
                token = self.token.rejected(token)
                continue
            if status == 401:
                response.close()
                reason = "the payer refused our access token even after a refresh"
                payer_tokens.mark_reauth_required(self.token.consent, reason)
                raise payer_tokens.PayerAuthorizationLapsed(reason)
            body = read_limited(response)
            with self._lock:
                self.bytes += len(body)
            if status == 200:
                return body
            if 400 <= status < 500:
                raise NotAvailable(f"{what}: {self.payer.name} answered {status}", status)
            raise FetchError(f"{what}: {self.payer.name} answered {status}")
        raise FetchError(f"{what}: no usable token")  # pragma: no cover - loop returns

    def page(self, url: str, label: str, number: int, *, ahead: bool = True) -> tuple[Page, dict]:
        """One page and the members its links are read from; asked again when it comes
        back unusable (cut short, not JSON).

        With `ahead`, a Bundle whose head says where the next page is comes back
        unparsed (`Page.parsed` false, the head as its members): `complete` it later."""
        what = f"{label} page {number}"
        last = ""
        for _ in range(PAGE_ATTEMPTS):
            try:
                body = self.get(url, what)
            except (NotAvailable, TransportError):
                raise
            except FetchError as exc:
                last = exc.reason
                continue
            if ahead and (head := bundle_head(body)) is not None:
                members, empty = head
                return Page(label, number, body, url=url, empty=empty), members
            try:
                return self._parsed(Page(label, number, body, url=url), what)
            except _Unusable as exc:
                last = str(exc)
        raise FetchError(last)

    def complete(self, page: Page) -> Page:
        """`page` parsed whole (its entries counted); asked again if it is unusable."""
        if page.parsed:
            return page
        what = f"{page.label} page {page.number}"
        try:
            return self._parsed(page, what, keep=True)[0]
        except _Unusable:
            return self.page(page.url, page.label, page.number, ahead=False)[0]

    def _parsed(self, page: Page, what: str, keep: bool = False) -> tuple[Page, dict]:
        try:
            parsed = orjson.loads(page.body)
        except orjson.JSONDecodeError:
            raise _Unusable(
                f"{what}: {self.payer.name} sent a response that is not valid JSON"
            ) from None
        if not isinstance(parsed, dict):
            raise _Unusable(f"{what}: {self.payer.name} sent JSON that is not a FHIR resource")
        if parsed.get("resourceType") == "OperationOutcome":
            raise FetchError(f"{what}: {self.payer.name} answered with an OperationOutcome")
        if parsed.get("resourceType") != "Bundle":
            # A read: wrapped as a one-entry page (its bytes untouched), so the
            # loader commits it now rather than holding it for a batch.
            page.body = (
                b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":%s}]}'
                % page.body
            )
        elif keep:
            page.value = parsed
        page_keys(page, parsed)
        page.parsed = True
        page.empty = not page.keys
        return page, parsed

    def search(self, path: str, label: str, stop: threading.Event) -> Iterator[Page]:
        """Every page of one search, following `next` links with loop protection.

        Close it on the thread that iterates it: the payer slot it keeps is that thread's."""
        with self.session.keeping_slot():
            yield from self._follow(self.url(path), label, stop)

    def _follow(self, url: str | None, label: str, stop: threading.Event) -> Iterator[Page]:
        seen: set[str] = set()
        empty_run = 0
        number = 0
        while url and not stop.is_set():
            number += 1
            if number > self.max_pages:
                raise FetchError(f"{label}: more than {self.max_pages} pages; stopped")
            seen.add(url)
            page, members = self.page(url, label, number)
            yield page
            empty_run = empty_run + 1 if page.empty else 0
            nxt = next_link(members, url)
            if nxt is None:
                return
            if nxt in seen:
                raise FetchError(
                    f"{label} page {number}: the next link points back to an earlier page "
                    f"({redact(nxt)}); stopped following it"
                )
            if empty_run >= MAX_EMPTY_PAGES:
                raise FetchError(
                    f"{label} page {number}: {empty_run} empty pages in a row; stopped"
                )
            url = nxt


# The first `"entry":` member and the start of its array ("[" or "[]" when empty).
_ENTRY_MEMBER = re.compile(rb'"entry"\s*:\s*(\[\s*\]?)?')


def bundle_head(body: bytes) -> tuple[dict, bool] | None:
    """A Bundle's members before its `entry` array and whether that array is empty,
    read without parsing the entries; None unless that is certain.

    The text before the first `"entry":`, closed with `}`, parses only when that is a
    member of the top-level object (cut inside a string or a nested value, it would
    not), so a wrong cut is never taken. None too when the head has no `link` (it may
    come after the entries), the document is not a Bundle, or `entry` is no array:
    the whole parse then decides.
    """
    match = _ENTRY_MEMBER.search(body)
    if match is None or not match.group(1):
        return None
    head = body[: match.start()].rstrip()
    if head.endswith(b","):
        head = head[:-1]
    try:
        members = orjson.loads(head + b"}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(members, dict) or members.get("resourceType") != "Bundle":
        return None
    if "link" not in members:
        return None
    return members, match.group(1).endswith(b"]")


def next_link(parsed: dict, current: str) -> str | None:
    """The absolute URL of a Bundle's `next` link (relative ones resolved against `current`)."""
    links = parsed.get("link")
    if parsed.get("resourceType") != "Bundle" or not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            href = link.get("url")
            if isinstance(href, str) and href.strip():
                return urljoin(current, href.strip())
    return None


def in_thread(fn, *args):
    """Run `fn` in a worker thread that closes its own database connection after."""
    try:
        return fn(*args)
    finally:
        close_old_connections()
        from django.db import connection

        connection.close()
