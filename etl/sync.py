"""One run of a sync job: pull the consent's data from its payer into its cache.

Strategy (see `etl.plan`): `Patient/$everything` where offered (per-type
searches when it fails), else a search by patient of every type the payer
lists and the scopes allow, several at once (up to the payer's concurrency
limit); then what was referenced but never sent, read by id (`_id=a,b,c`
where the payer lists `_id`). Every page's raw bytes go to
`fhircache.loader.load_resources(..., guard=True)` as one stream, so a full
run ends with `delete_absent` of what the payer no longer returns — unless a
type failed (the run is then `partial` and deletes nothing).

The outcome is always a clear state: `succeeded`, `partial`, `failed` (with
`last_error` in an admin's words), `cancelled` (consent ended, admin), or
`queued` with `next_attempt_at` (a payer's long `Retry-After`).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError as DatabaseOperationalError
from django.db import connection, transaction

from consent.models import Consent, PayerGrant
from consent.payer_tokens import PayerAuthorizationLapsed
from consent.webhooks import emit
from etl import jobs
from etl.fetch import Fetcher, FetchError, NotAvailable, Page, PayerToken, in_thread
from etl.models import SyncJob
from etl.plan import Plan, make_plan
from etl.references import references_in
from fhircache import repository
from fhircache.loader import Parsed, SourceInfo, load_resources
from payers.http import PayerRateLimited
from payers.models import Payer
from payers.oauth_client import PayerOAuthError

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
ID_BATCH = 20
REFERENCE_ROUNDS = 3  # PractitionerRole → Practitioner → Organization
# Pages fetched ahead of the loader, bounded by their bytes: a burst of small pages
# while every type is fetched at once must not stall the longest chain of `next`
# links behind a loader that catches up later.
AHEAD_BYTES = 64 * 1024 * 1024
GIL_SWITCH_S = 0.0001
# Types that usually have the most pages for a patient, most first.
LIKELY_LONGEST = {
    t: i
    for i, t in enumerate(
        (
            "ExplanationOfBenefit",
            "Observation",
            "Claim",
            "DiagnosticReport",
            "Encounter",
            "DocumentReference",
            "Procedure",
            "Immunization",
            "MedicationRequest",
            "Condition",
        )
    )
}

Progress = Callable[[Page], None]


class _Stopped(Exception):
    """The heartbeat found the job cancelled or claimed by another run."""


class _Incomplete(Exception):
    """Some searches failed: stop before the loader deletes what was not seen."""


def run_job(job_id: int, progress: Progress | None = None) -> SyncJob | None:
    """Claim and run one job (None when it was not ours to run)."""
    job = jobs.claim(job_id)
    if job is None:
        return None
    Run(job, progress).execute()
    return SyncJob.objects.get(pk=job_id)


class Run:
    def __init__(self, job: SyncJob, progress: Progress | None = None) -> None:
        self.job = job
        self.consent: Consent = job.consent
        self.payer: Payer = job.consent.payer
        self.progress = progress
        self.stop = threading.Event()
        self.stop_reason = ""
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.counts: dict[str, dict[str, int]] = {}
        self.pages = 0
        self.present: set[tuple[str, str]] = set()
        self.referenced: set[tuple[str, str]] = set()
        self.fetcher: Fetcher | None = None

    # --- outcome ---------------------------------------------------------
    def execute(self) -> None:
        if self.consent.status not in jobs.OPEN_CONSENT:
            self._end(SyncJob.State.CANCELLED, "the consent ended before the sync ran")
            return
        jobs.set_data_state(
            self.consent,
            Consent.DataState.SYNCING,
            only_from=(Consent.DataState.NONE, Consent.DataState.FAILED),
        )
        beat = threading.Thread(target=self._heartbeat, name="etl-heartbeat", daemon=True)
        beat.start()
        # The loader keeps the GIL busy normalizing; a fetch thread back from a socket
        # read would otherwise wait up to 5 ms for it, at each of the dozen reads and
        # writes of every request, along a chain of hundreds of `next` links (0.1 ms
        # measured no worse than 0.5 ms for the loader and a little better for the chain).
        interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_S)
        try:
            self._outcome()
        finally:
            sys.setswitchinterval(interval)
            self.stop.set()
            beat.join()

    def _outcome(self) -> None:
        name = self.payer.name
        try:
            result = self._load()
        except repository.ConsentClosed:
            self._end(
                SyncJob.State.CANCELLED,
                "the consent was revoked or ended during the sync; nothing was written after that",
            )
        except _Stopped:
            if self.stop_reason == "cancelled":
                status = Consent.objects.values_list("status", flat=True).get(pk=self.consent.pk)
                ended = status not in jobs.OPEN_CONSENT
                self._end(
                    SyncJob.State.CANCELLED,
                    f"the consent was {status} during the sync; nothing was written after that"
                    if ended
                    else "cancelled by an admin",
                )
        except _Incomplete:
            state = SyncJob.State.PARTIAL if self.pages else SyncJob.State.FAILED
            self._end(state, "; ".join(self.failures)[:2000])
        except PayerAuthorizationLapsed as exc:
            self._end(
                SyncJob.State.FAILED,
                f"{name} no longer accepts our authorization ({exc}); "
                "the patient must sign in at the plan again",
            )
        except PayerRateLimited as exc:
            self._retry_later(exc.retry_after, f"{name} asked us to wait ({exc.reason})")
        except PayerOAuthError as exc:
            self._retry_later(60.0 * self.job.attempts, f"renewing the {name} token: {exc.reason}")
        except SoftTimeLimitExceeded:
            self._retry_later(60.0, "the sync ran past its time limit; it starts again")
        except DatabaseOperationalError as exc:
            log.warning("sync job %s: database unavailable (%s)", self.job.pk, exc)
            self._retry_later(30.0, "our database was unavailable during the sync")
        except Exception as exc:  # every run ends in a clear state
            log.exception("sync job %s failed", self.job.pk)
            self._end(SyncJob.State.FAILED, f"internal error ({type(exc).__name__}); see logs")
        else:
            self._end(SyncJob.State.SUCCEEDED, "", result=result)

    def _retry_later(self, wait: float, reason: str) -> None:
        if self.job.attempts >= settings.ETL_MAX_ATTEMPTS:
            self._end(SyncJob.State.FAILED, f"{reason}; gave up after {self.job.attempts} attempts")
            return
        jobs.reschedule(self.job, wait, f"{reason}; next attempt in {wait:.0f} s", **self._stats())
        log.info("sync job %s rescheduled in %.0f s: %s", self.job.pk, wait, reason)

    def _stats(self) -> dict:
        stats = self.fetcher.totals() if self.fetcher else {}
        return {
            "pages": self.pages,
            "counts": self.counts,
            "requests": stats.get("requests", 0),
            "retries": stats.get("retries", 0),
            "throttled": stats.get("throttled", 0),
            "bytes": stats.get("bytes", 0),
        }

    def _end(self, state: str, error: str, result=None) -> None:
        stored = repository.counts(self.consent)
        for rtype, n in stored.items():
            self.counts.setdefault(rtype, {"fetched": 0})["stored"] = n
        extra: dict = {}
        if result is not None:
            for rtype, detail in (getattr(result, "by_type", None) or {}).items():
                self.counts.setdefault(rtype, {"fetched": 0}).update(detail)
            extra["totals"] = {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "quarantined": result.quarantined,
                "deleted": result.deleted,
                "flagged": getattr(result, "flagged", 0),
            }
            extra["dangling"] = len(result.dangling)
        # One transaction: whoever sees the job ended sees the consent and payer updated.
        with transaction.atomic():
            if not jobs.finish(self.job, state, error=error, **self._stats(), **extra):
                return  # the reaper gave this run away; the other run reports
            self._after(state, error, stored)

    def _after(self, state: str, error: str, stored: dict[str, int]) -> None:
        data_state = {
            SyncJob.State.SUCCEEDED: Consent.DataState.READY,
            SyncJob.State.PARTIAL: Consent.DataState.PARTIAL,
        }.get(state)
        if data_state:
            jobs.set_data_state(self.consent, data_state)
        elif state in (SyncJob.State.FAILED, SyncJob.State.CANCELLED):
            # Data of an earlier sync stays served; a first sync that stopped half way
            # serves what it got (partial), one that got nothing failed.
            jobs.set_data_state(
                self.consent,
                Consent.DataState.PARTIAL if stored else Consent.DataState.FAILED,
                only_from=(Consent.DataState.NONE, Consent.DataState.SYNCING),
            )
        if state == SyncJob.State.CANCELLED:
            return
        ok = state != SyncJob.State.FAILED
        Payer.record_sync(self.payer.pk, ok)
        data = {"job_id": self.job.pk, "state": state, "kind": self.job.kind, "counts": stored}
        if error:
            data["error"] = error[:500]
        _emit(self.consent, "sync.completed" if ok else "sync.failed", data)

    # --- heartbeat ---------------------------------------------------------
    def _heartbeat(self) -> None:
        try:
            while not self.stop.wait(settings.ETL_HEARTBEAT_S):
                alive = jobs.heartbeat(self.job, pages=self.pages)
                connection.close()  # a beat every few seconds need not hold a connection
                if alive:
                    continue
                current = SyncJob.objects.filter(pk=self.job.pk).values("cancel_requested").first()
                self.stop_reason = (
                    "cancelled" if current and current["cancel_requested"] else "lost"
                )
                self.stop.set()
        finally:
            connection.close()

    # --- fetching ----------------------------------------------------------
    def _load(self):
        token = PayerToken(self.consent)
        token.get()  # a lapsed authorization ends the job before any request
        self.fetcher = Fetcher(self.payer, token, max_pages=settings.ETL_MAX_PAGES_PER_SEARCH)
        grant_scope = PayerGrant.objects.filter(consent=self.consent).values_list(
            "scope", flat=True
        )
        plan = make_plan(self.fetcher.capability(), [self.consent.scope, *grant_scope])
        source = SourceInfo(
            payer=self.payer.slug, base_url=self.fetcher.base, fetched_at=datetime.now(UTC)
        )
        return load_resources(
            self.consent,
            self._stream(plan),
            source=source,
            full_sync=self.job.kind == SyncJob.Kind.FULL,
            guard=True,
        )

    def _stream(self, plan: Plan) -> Iterator[bytes | Parsed]:
        # the payer's own id (Consent.patient_id is the id we serve, mapped when invalid)
        pid = self.consent.payer_patient_id or self.consent.patient_id
        searched = False
        if plan.everything:
            try:
                yield from self._parallel([(f"Patient/{pid}/$everything", "Patient/$everything")])
                searched = not self.failures
            except FetchError as exc:
                log.info(
                    "sync job %s: $everything failed (%s); searching by type", self.job.pk, exc
                )
            if not searched:
                self.failures.clear()
                self.counts.clear()
        if not searched:
            yield from self._parallel(self._searches(plan, pid))
        yield from self._referenced(plan)
        if self.failures:
            raise _Incomplete

    def _searches(self, plan: Plan, pid: str) -> list[tuple[str, str]]:
        since = ""
        if self.job.kind == SyncJob.Kind.INCREMENTAL and self.job.since:
            since = self.job.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = []
        # The longest searches first: with a few at a time, a long one started last
        # would add its whole chain of pages to the sync's wall time.
        for search in sorted(plan.searches, key=lambda s: LIKELY_LONGEST.get(s.resource_type, 99)):
            rtype = search.resource_type
            if not search.param:
                items.append((f"{rtype}/{pid}", rtype))
                continue
            path = f"{rtype}?{search.param}={pid}"
            if since and rtype in plan.last_updated:
                path += f"&_lastUpdated=gt{since}"
            items.append((path, rtype))
        return items

    def _referenced(self, plan: Plan) -> Iterator[bytes | Parsed]:
        asked: set[tuple[str, str]] = set()
        for _ in range(REFERENCE_ROUNDS):
            missing = sorted(
                k for k in self.referenced - self.present - asked if k[0] in plan.readable
            )
            if not missing:
                return
            asked.update(missing)
            items: list[tuple[str, str]] = []
            by_type: dict[str, list[str]] = {}
            for rtype, rid in missing:
                by_type.setdefault(rtype, []).append(rid)
            for rtype, ids in by_type.items():
                if rtype in plan.id_lists:
                    for i in range(0, len(ids), ID_BATCH):
                        batch = ",".join(ids[i : i + ID_BATCH])
                        items.append((f"{rtype}?_id={batch}", f"{rtype} by id"))
                else:
                    items.extend((f"{rtype}/{rid}", f"{rtype} by id") for rid in ids)
            yield from self._parallel(items, missing_ok=True)

    def _parallel(
        self, items: list[tuple[str, str]], missing_ok: bool = False
    ) -> Iterator[bytes | Parsed]:
        """Run searches on up to the payer's concurrency limit of threads; yield page bytes."""
        if not items:
            return
        pages = _Ahead(AHEAD_BYTES)
        abort = threading.Event()
        done = object()

        def put(item, size: int = 0) -> None:
            pages.put(item, size, abort)

        def work(path: str, label: str) -> None:
            try:
                with closing(self.fetcher.search(path, label, abort)) as search:
                    for page in search:
                        put(page, len(page.body))
            except FetchError as exc:
                self._failed(exc, missing_ok)
            except BaseException as exc:  # rate limit, lapsed token: the whole run stops
                put(exc)
            finally:
                put(done)

        workers = min(len(items), self.payer.max_concurrency or DEFAULT_CONCURRENCY)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etl-fetch")
        remaining = len(items)
        try:
            for path, label in items:
                pool.submit(in_thread, work, path, label)
            while remaining:
                try:
                    item = pages.get(timeout=0.5)
                except queue.Empty:
                    item = None
                if self.stop.is_set():
                    raise _Stopped
                if item is None:
                    continue
                if item is done:
                    remaining -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    pages.done(len(item.body))
                    page = self._complete(item, missing_ok)
                    if page is not None:
                        self._count(page)
                        yield page.body if page.value is None else Parsed(page.body, page.value)
                        page.value = None
        finally:
            if remaining:
                abort.set()
            pool.shutdown(wait=True)

    def _complete(self, page: Page, missing_ok: bool) -> Page | None:
        """The page parsed whole (see `Fetcher.complete`); None when it stayed unusable."""
        try:
            return self.fetcher.complete(page)
        except FetchError as exc:
            self._failed(exc, missing_ok)
            return None

    def _failed(self, exc: FetchError, missing_ok: bool) -> None:
        """Record a search that failed, unless it only found nothing to read."""
        if isinstance(exc, NotAvailable) and (
            exc.status == 403 or (missing_ok and exc.status in (404, 410))
        ):
            return
        self._fail(exc.reason)

    def _fail(self, reason: str) -> None:
        with self.lock:
            self.failures.append(reason)

    def _count(self, page: Page) -> None:
        self.pages += 1
        self.present |= page.keys
        self.referenced |= references_in(page.body, self.fetcher.base)
        for rtype, n in page.entries_by_type.items():
            entry = self.counts.setdefault(rtype, {"fetched": 0})
            entry["fetched"] = entry.get("fetched", 0) + n
        if self.progress is not None:
            self.progress(page)


class _Ahead:
    """The queue of pages between the fetch threads and the loader, bounded by bytes.

    One page always fits, however large (`payers.http` bounds a response), and the
    threads' markers (done, an exception) never wait."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: queue.SimpleQueue = queue.SimpleQueue()
        self.room = threading.Condition()

    def put(self, item, size: int, abort: threading.Event) -> None:
        with self.room:
            while size and self.size and self.size + size > self.max_bytes and not abort.is_set():
                self.room.wait(0.2)
            if abort.is_set():
                return
            self.size += size
        self.items.put(item)

    def get(self, timeout: float):
        return self.items.get(timeout=timeout)

    def done(self, size: int) -> None:
        """The loader took an item of `size` bytes."""
        with self.room:
            self.size -= size
            self.room.notify_all()


def _emit(consent: Consent, event: str, data: dict) -> None:
    try:
        emit(consent, event, data)
    except Exception:  # a webhook problem never changes the outcome
        log.exception("webhook %s for consent %s could not be queued", event, consent.pk)
