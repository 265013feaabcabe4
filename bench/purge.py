"""Purge of a big consent while other consents are read over HTTP, in the same run.

    DEBUG=1 .venv/bin/python -m config.devservices run -- .venv/bin/python bench/purge.py

Data: bench/api.py's dataset (database `<DATABASE_URL's name>_apibench`,
`--consents` consents of `--per-consent` resources, reused between runs) and,
for each run, one new consent of `--size` resources (default 100,000) loaded
through `fhircache.loader` (timed: "load"); the same rows are then copied once
more with one INSERT … SELECT into a scratch consent (timed: "raw insert", the
cheapest possible write of those rows) and that scratch copy is deleted.

While `--clients` keep-alive clients read the other consents through the FHIR
API (gunicorn as the Procfile runs it; read by id and EOB search, at random),
the big consent is ended and purged with `consent.purge.purge` — the same
function the task, the admin action and `manage.py purge_consent` run. Reads
that started before the purge give the baseline latency, reads that started
during it the latency under purge.

Targets: purge time <= load time; read p99 during the purge <= 2x without it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.api import (  # noqa: E402 - after sys.path
    NOW,
    PATIENT,
    PAYER_SLUG,
    SCOPE,
    Server,
    bench_database_url,
    build_dataset,
    ensure_database,
    issue_tokens,
)


class Reader:
    """Client threads reading the other consents; every request's start and latency kept."""

    def __init__(self, port: int, requests: list[tuple[str, dict]], clients: int) -> None:
        self.port, self.requests, self.clients = port, requests, clients
        self.samples: list[tuple[float, float]] = []  # (started, seconds)
        self.errors = 0
        self.first_error = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]

    def start(self) -> Reader:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self._stop.is_set():
            path, headers = rng.choice(self.requests)
            started = time.monotonic()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._error(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                continue
            if response.status != 200:
                self._error(f"{response.status} {path} {body[:200]!r}")
                continue
            with self._lock:
                self.samples.append((started, time.monotonic() - started))
        conn.close()

    def _error(self, what: str) -> None:
        with self._lock:
            self.errors += 1
            self.first_error = self.first_error or what

    def window(self, start: float, end: float) -> list[float]:
        return sorted(s for t, s in self.samples if start <= t < end)


def pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def load_big_consent(size: int):
    """A new active consent of `size` resources, loaded through the loader; (consent, seconds)."""
    from bench.load import generate
    from consent.models import App, Consent
    from fhircache.loader import SourceInfo, load_resources
    from payers.models import Payer

    payer = Payer.objects.get(slug=PAYER_SLUG)
    app = App.objects.filter(consents__payer=payer).first()
    consent = Consent.objects.create(
        app=app,
        payer=payer,
        patient_id=PATIENT,
        status="active",
        data_state="ready",
        scope=SCOPE,
        granted_at=NOW,
        expires_at=NOW,
        external_id="purge-bench",
    )
    pages = generate(size, 500, seed=21)
    source = SourceInfo(payer=PAYER_SLUG, base_url="https://payer.example/fhir", fetched_at=NOW)
    started = time.perf_counter()
    result = load_resources(consent, pages, source=source)
    seconds = time.perf_counter() - started
    print(f"loaded {result.stored:,} resources through the loader in {seconds:.1f} s")
    return consent, seconds


def raw_insert_seconds(consent) -> float:
    """One INSERT … SELECT of the same rows into a scratch consent (then deleted, untimed)."""
    from django.db import connection, transaction

    from bench.api import _resource_columns
    from consent.models import Consent

    scratch = Consent.objects.create(app=consent.app, payer=consent.payer, external_id="scratch")
    columns = ", ".join(_resource_columns())
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO fhircache_resource (consent_id, {columns})"
            f" SELECT %s, {columns} FROM fhircache_resource WHERE consent_id = %s",
            [scratch.pk, consent.pk],
        )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM fhircache_resource WHERE consent_id = %s", [scratch.pk])
    scratch.delete()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="resources of the purged consent")
    parser.add_argument("--consents", type=int, default=1000)
    parser.add_argument("--per-consent", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    args = parser.parse_args()

    url = bench_database_url()
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from consent import lifecycle
    from consent.purge import purge

    call_command("migrate", verbosity=0)
    dataset = build_dataset(args.consents, args.per_consent, 10, fresh=False)
    tokens = issue_tokens(dataset, 200)
    consent, load_s = load_big_consent(args.size)
    raw_s = raw_insert_seconds(consent)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE fhircache_resource")
    connections.close_all()

    rng = random.Random(5)
    sampled = [c for c in tokens if c != dataset.big]
    requests = []
    for _ in range(2000):
        consent_id = rng.choice(sampled)
        auth = {"Authorization": f"Bearer {tokens[consent_id]}", "Accept": "application/fhir+json"}
        if rng.random() < 0.7:
            rtype, rid = rng.choice(dataset.keys)
            requests.append((f"/fhir/{rtype}/{rid}", auth))
        else:
            requests.append((f"/fhir/ExplanationOfBenefit?patient={PATIENT}&_count=20", auth))

    log_path = Path(tempfile.gettempdir()) / f"bench-purge-{os.getpid()}.log"
    server = Server(url, log_path)
    try:
        reader = Reader(server.port, requests, args.clients).start()
        time.sleep(2.0)  # warm-up, not counted
        baseline_from = time.monotonic()
        time.sleep(args.baseline_seconds)
        lifecycle._end(consent, "revoked", "purge_bench")
        purge_from = time.monotonic()
        report = purge(consent.pk)
        purge_to = time.monotonic()
        reader.stop()
    finally:
        server.stop()
    purge_s = purge_to - purge_from
    before = reader.window(baseline_from, purge_from)
    during = reader.window(purge_from, purge_to)
    deleted = report.deleted.get("fhircache", {}).get("resources", 0)

    print(f"{os.cpu_count()} CPUs; {args.clients} reading clients; other consents' data:")
    print(f"  {len(dataset.consents)} consents x {args.per_consent} resources")
    print()
    print(f"purge of {deleted:,} resources: {purge_s:.2f} s")
    print(f"  load of those rows through the loader: {load_s:.2f} s -> {purge_s / load_s:.2f}x")
    print(f"  raw INSERT ... SELECT of the same rows: {raw_s:.2f} s -> {purge_s / raw_s:.2f}x")
    print(
        f"reads of other consents: without purge {len(before)} reads,"
        f" p50 {pct(before, 0.5):.1f} ms, p99 {pct(before, 0.99):.1f} ms;"
        f" during purge {len(during)} reads, p50 {pct(during, 0.5):.1f} ms,"
        f" p99 {pct(during, 0.99):.1f} ms"
    )
    if reader.errors:
        print(f"  {reader.errors} read errors; first: {reader.first_error}")
    p99_ratio = pct(during, 0.99) / pct(before, 0.99)
    print()
    verdict = "ok" if purge_s <= load_s else "ABOVE TARGET"
    print(f"  purge / load time {purge_s / load_s:.2f} (target <= 1): {verdict}")
    verdict = "ok" if p99_ratio <= 2 else "ABOVE TARGET"
    print(f"  read p99 during / without purge {p99_ratio:.2f} (target <= 2): {verdict}")
    print(f"server log: {log_path}")


if __name__ == "__main__":
    main()
