"""Sync throughput and latency hiding against a loopback payer, beside baselines
measured in the same run.

    DEBUG=1 .venv/bin/python -m config.devservices run -- .venv/bin/python bench/sync.py

A loopback payer (a plain threaded HTTP server in its own process, serving
pre-built pages so it costs next to no CPU) serves one generated patient of
`--resources` resources (the shapes of bench/load.py: BFD and CARIN/CPCDS EOBs
and clinical types), one search per type, `next` links to the end, a
CapabilityStatement. Then:

1. throughput: the whole sync (`etl.sync.run_job`: capability, searches four at
   a time, pages to the loader, references) in resources/s, beside the loader
   alone (`load_resources`) on the very same page bytes: target >= 0.7;
2. latency: every response delayed `--latency-ms` (50), the payer's concurrency
   limit `--concurrency` (4), pages of `--latency-page-size` (20): the sync's
   wall time beside the unavoidable latency, the longest chain of dependent
   requests (metadata, then the longest search's pages one after another, then
   each round of reads by id) x the delay: target <= 1.3;
3. cold start: a fresh process's time to a usable EOB validator, with the
   pre-check schema built from the model classes (no disk cache) and loaded
   from the disk cache (what a worker has, and warms at start).

Not part of the test suite. Uses the dev database (migrates it) and removes
what it created.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

PATIENT = "bench-patient"


# --- the loopback payer ------------------------------------------------------------


def _resources(total: int) -> dict[str, list[dict]]:
    import bench.load as generator

    generator._NUMBERS_AS_WRITTEN = False  # plain dicts; pages are written by orjson
    [page] = generator.generate(total, page_size=total)
    by_type: dict[str, list[dict]] = defaultdict(list)
    for entry in orjson.loads(page)["entry"]:
        by_type[entry["resource"]["resourceType"]].append(entry["resource"])
    return by_type


def _capability(types: list[str]) -> bytes:
    resources = [{"type": "Patient", "interaction": [{"code": "read"}]}]
    resources += [
        {
            "type": t,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "patient", "type": "reference"}, {"name": "_id"}],
        }
        for t in types
        if t != "Patient"
    ]
    return orjson.dumps(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "rest": [{"mode": "server", "resource": resources}],
        }
    )


class Payer:
    """Pre-built pages per type; `serve()` runs in a child process."""

    def __init__(self, by_type: dict[str, list[dict]], page_size: int, latency: float) -> None:
        self.by_type, self.page_size, self.latency = by_type, page_size, latency
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 64
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        self.pages = {t: self._pages(t) for t in by_type if t != "Patient"}
        self.index = {
            (r["resourceType"], r["id"]): orjson.dumps(r) for rs in by_type.values() for r in rs
        }
        self.capability = _capability(list(by_type))

    def _pages(self, rtype: str) -> list[bytes]:
        items = self.by_type[rtype]
        out = []
        count = max(1, -(-len(items) // self.page_size))
        for n in range(count):
            chunk = items[n * self.page_size : (n + 1) * self.page_size]
            links = []
            if n + 1 < count:
                links = [
                    {
                        "relation": "next",
                        "url": f"{self.base}/{rtype}?patient={PATIENT}&page={n + 1}",
                    }
                ]
            out.append(
                orjson.dumps(
                    {
                        "resourceType": "Bundle",
                        "type": "searchset",
                        "total": len(items),
                        "link": links,
                        "entry": [
                            {"fullUrl": f"{self.base}/{rtype}/{r['id']}", "resource": r}
                            for r in chunk
                        ],
                    }
                )
            )
        return out

    def loader_pages(self) -> list[bytes]:
        """The bytes a sync hands the loader: the Patient read (as its one-entry page),
        then every search page."""
        patient = self.index[("Patient", PATIENT)]
        wrapped = (
            b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":%s}]}' % patient
        )
        return [wrapped] + [p for pages in self.pages.values() for p in pages]

    def answer(self, path: str) -> tuple[int, bytes]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.removeprefix("/fhir/").split("/")
        if segments == ["metadata"]:
            return 200, self.capability
        if len(segments) == 2:
            found = self.index.get((segments[0], segments[1]))
            return (200, found) if found else (404, b'{"resourceType":"OperationOutcome"}')
        rtype = segments[0]
        if "_id" in query:
            hits = [
                self.index[(rtype, i)] for i in query["_id"].split(",") if (rtype, i) in self.index
            ]
            body = b'{"resourceType":"Bundle","type":"searchset","entry":[%s]}' % b",".join(
                b'{"resource":%s}' % h for h in hits
            )
            return 200, body
        pages = self.pages.get(rtype)
        if pages is None:
            return 404, b'{"resourceType":"OperationOutcome"}'
        return 200, pages[int(query.get("page", "0"))]

    def _handler(self):
        payer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if payer.latency:
                    time.sleep(payer.latency)
                status, body = payer.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def start(self) -> multiprocessing.Process:
        process = multiprocessing.get_context("fork").Process(
            target=self.httpd.serve_forever, daemon=True
        )
        process.start()
        self.httpd.socket.close()  # the child serves; this process only knows the URL
        return process


# --- runs ----------------------------------------------------------------------


def _consent(base: str, concurrency: int | None):
    from consent.models import App, Consent, PayerGrant
    from payers.models import Payer as PayerRow

    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    payer = PayerRow.objects.create(
        slug=f"bench-sync-{suffix}",
        name=f"Bench {suffix}",
        fhir_base_url=base,
        status="active",
        max_concurrency=concurrency,
    )
    app = App.objects.create(name=f"Bench {suffix}", client_id=f"bench-sync-{suffix}")
    consent = Consent.objects.create(
        app=app,
        payer=payer,
        patient_id=PATIENT,
        scope="patient/*.read",
        status="active",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    PayerGrant.objects.create(
        consent=consent,
        access_token="bench",  # noqa: S106 - the loopback payer takes any token
        scope="patient/*.read",
    )
    return consent


def _cleanup(consents) -> None:
    from fhircache import repository

    for consent in consents:
        repository.delete_consent_data(consent)
        payer, app = consent.payer, consent.app
        consent.delete()
        payer.delete()
        app.delete()


def time_sync(consent) -> tuple[float, object]:
    from etl.models import SyncJob
    from etl.sync import run_job

    job = SyncJob.objects.create(consent=consent, payer=consent.payer, app=consent.app)
    started = time.perf_counter()
    done = run_job(job.pk)
    return time.perf_counter() - started, done


def time_loader(consent, pages: list[bytes]) -> float:
    from fhircache.loader import SourceInfo, load_resources

    source = SourceInfo(payer="bench", base_url="http://bench/fhir", fetched_at=datetime.now(UTC))
    started = time.perf_counter()
    load_resources(consent, pages, source=source, full_sync=True, guard=True)
    return time.perf_counter() - started


def cold_start() -> tuple[float, float]:
    code = (
        "import time, django; django.setup(); t = time.perf_counter();"
        "from fhircache.normalize import fastcheck; fastcheck.warm(['ExplanationOfBenefit']);"
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ}
    with tempfile.TemporaryDirectory() as empty:
        cold = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "PAYERBRIDGE_CACHE_DIR": empty},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    warm = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(cold.stdout.split()[-1]), float(warm.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=12_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--latency-page-size", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only-latency", action="store_true", help="skip parts 1 and 3")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from etl.apps import WARM_TYPES
    from fhircache.normalize import fastcheck

    by_type = _resources(args.resources)
    total = sum(len(v) for v in by_type.values())
    fastcheck.warm({*WARM_TYPES, *by_type})  # as a worker does at start
    # The generated patient (~1.5 million dicts and lists) lives in this process only
    # because the bench made it; left to the collector, every full collection during
    # the sync walks it (parsing a page measured 3-6x slower). Frozen, it costs what
    # a worker's own start-up objects cost (workers freeze theirs after warming).
    gc.freeze()
    print(f"{total} resources of {len(by_type)} types; {os.cpu_count()} CPUs")

    made = []
    if not args.only_latency:
        throughput(by_type, total, args, made)
    latency(by_type, args, made)
    if not args.only_latency:
        cold, warm = cold_start()
        print(
            f"(3) a fresh process to its first EOB validator: {cold:.1f} s building the schema,"
            f" {warm:.1f} s with the disk cache (workers also warm the common types at start)"
        )


def throughput(by_type, total: int, args, made: list) -> None:
    payer = Payer(by_type, args.page_size, 0.0)
    server = payer.start()
    pages = payer.loader_pages()
    try:
        sync_rates, loader_rates = [], []
        for _ in range(args.runs):
            consent = _consent(payer.base, None)
            made.append(consent)
            loader_rates.append(total / time_loader(consent, pages))
            consent = _consent(payer.base, None)
            made.append(consent)
            seconds, job = time_sync(consent)
            assert job.state == "succeeded", job.last_error
            sync_rates.append(total / seconds)
        best_sync, best_loader = max(sync_rates), max(loader_rates)
        print(
            f"(1) {len(pages)} pages of {args.page_size}: loader alone "
            f"{', '.join(f'{r:,.0f}' for r in loader_rates)} resources/s; sync over loopback "
            f"{', '.join(f'{r:,.0f}' for r in sync_rates)} resources/s; "
            f"ratio (best of each) {best_sync / best_loader:.2f} (target >= 0.7)"
        )
    finally:
        server.terminate()


def latency(by_type, args, made: list) -> None:
    slow = Payer(by_type, args.latency_page_size, args.latency_ms / 1000)
    server = slow.start()
    try:
        consent = _consent(slow.base, args.concurrency)
        made.append(consent)
        loader_s = time_loader(consent, slow.loader_pages())
        consent = _consent(slow.base, args.concurrency)
        made.append(consent)
        seconds, job = time_sync(consent)
        assert job.state == "succeeded", job.last_error
        longest = max(len(p) for p in slow.pages.values())
        rounds = 1 if job.requests > 2 + sum(len(p) for p in slow.pages.values()) else 0
        chain = 1 + longest + rounds
        floor = chain * args.latency_ms / 1000
        print(
            f"(2) {args.latency_ms} ms a response, concurrency {args.concurrency}, pages of "
            f"{args.latency_page_size}: {job.requests} requests, longest chain {chain} "
            f"(metadata + {longest} pages + {rounds} read rounds) = {floor:.2f} s; sync "
            f"{seconds:.2f} s; ratio {seconds / floor:.2f} (target <= 1.3); the loader alone "
            f"on these {sum(len(p) for p in slow.pages.values()) + 1} pages takes {loader_s:.2f} s"
        )
    finally:
        server.terminate()
        _cleanup(made)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
