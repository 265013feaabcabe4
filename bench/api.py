"""FHIR API throughput and latency against a raw baseline, in the same run.

    DEBUG=1 .venv/bin/python -m config.devservices run -- .venv/bin/python bench/api.py

Data (kept between runs in the database `<DATABASE_URL's name>_apibench`,
rebuilt when the sizes asked for differ or with `--fresh`): `--consents`
consents (default 1,000) of `--per-consent` resources each (default 1,000: one
generated patient of bench/load.py, three quarters EOBs, loaded once through
`fhircache.loader` and cloned to the other consents with one INSERT … SELECT
per hundred consents, so every row is what the loader writes), plus one consent
of `--big` resources (default 10,000) loaded through the loader.

Server: gunicorn exactly as the Procfile's `web` runs it (gthread,
WEB_WORKERS=2, WEB_THREADS=8), with `bench.api_settings`: the product's URLs
plus bare views (`bench.api_baseline`) answering the same rows from the same
table with one raw SQL query each.

Scenarios, each measured for the API and for its baseline with `--clients`
concurrent keep-alive clients for `--seconds` (in `--rounds` alternating
slices of baseline and API, so a change of load hits both alike): read by id (random consent,
random resource), EOB search by patient `_count=50`, the same with
`_include=ExplanationOfBenefit:*`, and a full paged `$everything` of the big
consent (sequential, `--everything-runs` times; the baseline streams the same
rows in one response). Prints throughput and p50/p95/p99 beside the baseline,
and the ratios against the targets (read/search >= 0.5 of the baseline's
throughput; $everything <= 2x the baseline's time).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

PATIENT = "bench-patient"
PAYER_SLUG = "bench-api"
CLONE_BATCH = 100
SCOPE = "launch/patient patient/*.read"


def bench_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_apibench"))


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


# --- data -------------------------------------------------------------------


@dataclass
class Dataset:
    consents: list  # consent ids holding --per-consent resources
    big: object  # the consent id holding --big resources
    keys: list[tuple[str, str]]  # (type, id) of every resource of a small consent
    app_id: int


def _resource_columns() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'fhircache_resource' AND column_name <> 'consent_id'"
            " ORDER BY ordinal_position"
        )
        return [name for (name,) in cursor.fetchall()]


def _load(consent, total: int) -> None:
    from bench.load import generate
    from fhircache.loader import SourceInfo, load_resources

    source = SourceInfo(payer=PAYER_SLUG, base_url="https://payer.example/fhir", fetched_at=NOW)
    result = load_resources(consent, generate(total, 100), source=source)
    print(
        f"  loaded {result.stored} resources into {consent.pk} (quarantined {result.quarantined})"
    )


def build_dataset(consents: int, per_consent: int, big: int, fresh: bool) -> Dataset:
    from django.db import connection, transaction

    from consent.models import App, Consent
    from fhircache import repository
    from payers.models import Payer

    payer = Payer.objects.filter(slug=PAYER_SLUG).first()
    wanted = {"small": consents, "per": per_consent, "big": big}
    if payer and not fresh and payer.quirks.get("bench") == wanted:
        small = list(
            Consent.objects.filter(payer=payer, external_id="small").values_list("pk", flat=True)
        )
        big_id = Consent.objects.get(payer=payer, external_id="big").pk
        print(f"reusing {len(small)} consents + 1 big consent in the bench database")
    else:
        if payer:
            print("removing the previous bench data ...")
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM fhircache_resource WHERE consent_id IN"
                    " (SELECT id FROM consent_consent WHERE payer_id = %s)",
                    [payer.pk],
                )
            for model in ("IssuedToken", "ConsentEvent"):
                Consent._meta.apps.get_model("consent", model).objects.filter(
                    consent__payer=payer
                ).delete()
            apps = list(App.objects.filter(consents__payer=payer).distinct())
            Consent.objects.filter(payer=payer).delete()
            App.objects.filter(pk__in=[a.pk for a in apps]).delete()
            payer.delete()
        started = time.perf_counter()
        payer = Payer.objects.create(
            slug=PAYER_SLUG,
            name="Bench API payer",
            fhir_base_url="https://payer.example/fhir",
            status="active",
            quirks={"bench": wanted},
        )
        app = App.objects.create(
            name="Bench API app", client_id=f"bench-api-{secrets.token_hex(4)}"
        )
        rows = [
            Consent(app=app, payer=payer, patient_id=PATIENT, external_id="small")
            for _ in range(consents)
        ]
        Consent.objects.bulk_create(rows)
        big_consent = Consent.objects.create(
            app=app, payer=payer, patient_id=PATIENT, external_id="big"
        )
        small = [c.pk for c in rows]
        print(f"generating {consents} x {per_consent} + {big} resources ...")
        _load(rows[0], per_consent)
        columns = ", ".join(_resource_columns())
        for start in range(1, len(small), CLONE_BATCH):
            batch = small[start : start + CLONE_BATCH]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO fhircache_resource (consent_id, {columns})"
                    f" SELECT c.id, {columns.replace('resource_', 'r.resource_')}"
                    " FROM fhircache_resource r CROSS JOIN unnest(%s::uuid[]) AS c(id)"
                    " WHERE r.consent_id = %s",
                    [batch, small[0]],
                )
            print(f"  cloned into {start + len(batch)}/{consents} consents", end="\r")
        print()
        _load(big_consent, big)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE fhircache_resource")
        big_id = big_consent.pk
        total = sum(repository.counts(big_id).values()) + per_consent * consents
        print(f"generated about {total:,} rows in {time.perf_counter() - started:.0f} s")
    Consent.objects.filter(payer=payer).update(
        status="active",
        data_state="ready",
        scope=SCOPE,
        granted_at=NOW,
        expires_at=NOW + timedelta(days=1),
    )
    app_id = Consent.objects.get(pk=big_id).app_id
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resource_type, resource_id FROM fhircache_resource WHERE consent_id = %s",
            [small[0]],
        )
        keys = [tuple(k) for k in cursor.fetchall()]
    return Dataset(small, big_id, keys, app_id)


def issue_tokens(dataset: Dataset, how_many: int) -> dict:
    """Live patient tokens for a sample of the consents (and the big one)."""
    from consent.models import IssuedToken
    from consent.secrets import digest

    chosen = random.Random(9).sample(dataset.consents, min(how_many, len(dataset.consents)))
    tokens = {}
    rows = []
    for consent_id in [*chosen, dataset.big]:
        token = secrets.token_urlsafe(32)
        tokens[consent_id] = token
        rows.append(
            IssuedToken(
                access_token_hash=digest(token),
                app_id=dataset.app_id,
                consent_id=consent_id,
                grant_type="authorization_code",
                scope=SCOPE,
                access_expires_at=NOW + timedelta(hours=1),
            )
        )
    IssuedToken.objects.bulk_create(rows)
    return tokens


# --- server -----------------------------------------------------------------


class Server:
    """gunicorn as the Procfile's `web` line starts it, on a free port."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        import subprocess

        from tests.services import free_port

        self.port = free_port()
        from django.conf import settings

        env = {
            **os.environ,
            # production mode, with this process's secrets (the data was made with them)
            "DEBUG": "0",
            "SECRET_KEY": settings.SECRET_KEY,
            "ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
            "ALLOWED_HOSTS": "*",
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "bench.api_settings",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
            # a limit too high to reach: its Redis round trip is still paid
            "FHIR_RATE_LIMIT_PER_WINDOW": "1000000000",
        }
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-class",
                "gthread",
                "--workers",
                os.environ.get("WEB_WORKERS", "2"),
                "--threads",
                os.environ.get("WEB_THREADS", "8"),
                "--timeout",
                "60",
                "--graceful-timeout",
                "10",
                "--no-control-socket",
            ],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/fhir/metadata")
                conn.getresponse().read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gunicorn exited; see {log_path}") from None
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer; see {log_path}")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        self._log.close()


# --- load -------------------------------------------------------------------

Request = tuple[str, dict[str, str]]  # path, headers


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    first_error: str = ""

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _get(conn: http.client.HTTPConnection, path: str, headers: dict) -> tuple[int, bytes]:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def _client_process(port: int, requests: list[Request], threads: int, seconds: float, seed: int):
    """One client process: `threads` keep-alive connections issuing random requests."""
    results: list[Stats] = []
    start_at = time.monotonic() + 0.5

    def run(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        stats = Stats()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < start_at:
            time.sleep(0.01)
        deadline = start_at + seconds
        while (now := time.monotonic()) < deadline:
            path, headers = rng.choice(requests)
            try:
                status, body = _get(conn, path, headers)
            except (OSError, http.client.HTTPException) as exc:
                stats.errors += 1
                stats.first_error = stats.first_error or repr(exc)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            if status != 200:
                stats.errors += 1
                stats.first_error = stats.first_error or f"{status} {path} {body[:300]!r}"
                continue
            stats.latencies.append(time.monotonic() - now)
        conn.close()
        results.append(stats)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    merged = Stats(elapsed=seconds)
    for s in results:
        merged.latencies.extend(s.latencies)
        merged.errors += s.errors
        merged.first_error = merged.first_error or s.first_error
    return merged


def drive(port: int, requests: list[Request], clients: int, procs: int, seconds: float) -> Stats:
    per_proc = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    with ProcessPoolExecutor(procs) as pool:
        parts = list(
            pool.map(
                _client_process,
                [port] * procs,
                [requests] * procs,
                per_proc,
                [seconds] * procs,
                range(procs),
            )
        )
    merged = Stats(elapsed=seconds)
    for s in parts:
        merged.latencies.extend(s.latencies)
        merged.errors += s.errors
        merged.first_error = merged.first_error or s.first_error
    return merged


_NEXT = re.compile(rb'"relation"\s*:\s*"next"\s*,\s*"url"\s*:\s*"([^"]+)"')
_NEXT_URL_FIRST = re.compile(rb'"url"\s*:\s*"([^"]+)"\s*,\s*"relation"\s*:\s*"next"')


def next_link(body: bytes) -> str | None:
    found = _NEXT.search(body) or _NEXT_URL_FIRST.search(body)
    if not found:
        return None
    url = urlsplit(found.group(1).decode().replace("\\u0026", "&"))
    return url.path + (f"?{url.query}" if url.query else "")


def walk(port: int, path: str, headers: dict, runs: int) -> tuple[Stats, int, int]:
    """Time `runs` sequential walks of a paged result; (stats, pages, bytes) of the last."""
    stats = Stats()
    pages = size = 0
    for _ in range(runs):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.monotonic()
        link: str | None = path
        pages = size = 0
        while link:
            status, body = _get(conn, link, headers)
            if status != 200:
                raise RuntimeError(f"{status} on {link}: {body[:500]!r}")
            pages += 1
            size += len(body)
            link = next_link(body)
        stats.latencies.append(time.monotonic() - started)
        conn.close()
    stats.elapsed = sum(stats.latencies)
    return stats, pages, size


def count_entries(port: int, path: str, headers: dict) -> int:
    """Entries over every page of a paged result (checks both sides answer the same rows)."""
    import orjson

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    total = 0
    link: str | None = path
    while link:
        status, body = _get(conn, link, headers)
        if status != 200:
            raise RuntimeError(f"{status} on {link}: {body[:500]!r}")
        bundle = orjson.loads(body)
        total += sum(
            1 for e in bundle.get("entry", []) if e.get("search", {}).get("mode") != "outcome"
        )
        link = next_link(body)
    return total


# --- report -----------------------------------------------------------------


def line(name: str, api: Stats, base: Stats) -> str:
    return (
        f"{name:<34} {api.throughput:8.1f} {base.throughput:8.1f}"
        f" {api.throughput / base.throughput:6.2f}"
        f"   {api.pct(0.5):7.1f} {api.pct(0.95):7.1f} {api.pct(0.99):7.1f}"
        f"   {base.pct(0.5):7.1f} {base.pct(0.95):7.1f} {base.pct(0.99):7.1f}"
    )


NOW = datetime.now(UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consents", type=int, default=1000)
    parser.add_argument("--per-consent", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--client-procs", type=int, default=2, help="processes they run in")
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario and side")
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per scenario")
    parser.add_argument("--everything-runs", type=int, default=5)
    parser.add_argument("--everything-count", type=int, default=1000, help="_count of its pages")
    parser.add_argument("--fresh", action="store_true", help="rebuild the data")
    parser.add_argument("--data-only", action="store_true", help="build the data and stop")
    args = parser.parse_args()

    url = bench_database_url()
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    dataset = build_dataset(args.consents, args.per_consent, args.big, args.fresh)
    if args.data_only:
        return
    tokens = issue_tokens(dataset, 200)
    connections.close_all()
    print(
        f"{os.cpu_count()} CPUs; {args.clients} clients in {args.client_procs} processes;"
        f" {args.seconds:.0f} s per scenario and side"
    )

    rng = random.Random(11)
    sampled = [c for c in tokens if c != dataset.big]
    eob_keys = [k for k in dataset.keys if k[0] == "ExplanationOfBenefit"]

    def auth(consent_id) -> dict:
        return {"Authorization": f"Bearer {tokens[consent_id]}", "Accept": "application/fhir+json"}

    reads_api, reads_base = [], []
    for _ in range(2000):
        consent_id = rng.choice(sampled)
        rtype, rid = rng.choice(dataset.keys)
        reads_api.append((f"/fhir/{rtype}/{rid}", auth(consent_id)))
        reads_base.append((f"/bench-baseline/{consent_id}/{rtype}/{rid}", {}))
    query = f"patient={PATIENT}&_count=50"
    search_api = [(f"/fhir/ExplanationOfBenefit?{query}", auth(c)) for c in sampled]
    search_base = [(f"/bench-baseline/{c}/ExplanationOfBenefit?{query}", {}) for c in sampled]
    include = "&_include=ExplanationOfBenefit:*"
    include_api = [(f"/fhir/ExplanationOfBenefit?{query}{include}", auth(c)) for c in sampled]
    include_base = [
        (f"/bench-baseline/{c}/include/ExplanationOfBenefit?{query}", {}) for c in sampled
    ]
    print(f"{len(eob_keys)} EOBs per small consent")

    log_path = Path(tempfile.gettempdir()) / f"bench-api-{os.getpid()}.log"
    server = Server(url, log_path)
    try:
        results = []
        for name, api_reqs, base_reqs in (
            ("read by id", reads_api, reads_base),
            ("EOB search patient _count=50", search_api, search_base),
            ("  + _include=ExplanationOfBenefit:*", include_api, include_base),
        ):
            drive(server.port, api_reqs[:50], 2, 1, 1.0)  # warm both sides
            drive(server.port, base_reqs[:50], 2, 1, 1.0)
            # alternating slices, so a change of load on the machine hits both sides alike
            base, api = Stats(), Stats()
            for _ in range(args.rounds):
                for side, reqs in ((base, base_reqs), (api, api_reqs)):
                    part = drive(
                        server.port,
                        reqs,
                        args.clients,
                        args.client_procs,
                        args.seconds / args.rounds,
                    )
                    side.latencies += part.latencies
                    side.elapsed += part.elapsed
                    side.errors += part.errors
                    side.first_error = side.first_error or part.first_error
            for side, stats in (("api", api), ("baseline", base)):
                if stats.errors:
                    print(f"  {name} {side}: {stats.errors} errors, first: {stats.first_error}")
            results.append((name, api, base))

        big = dataset.big
        everything_path = f"/fhir/Patient/{PATIENT}/$everything?_count={args.everything_count}"
        api_rows = count_entries(server.port, everything_path, auth(big))
        base_rows = count_entries(server.port, f"/bench-baseline/{big}/everything", {})
        walk(server.port, everything_path, auth(big), 1)  # warm
        ev_api, pages, size = walk(server.port, everything_path, auth(big), args.everything_runs)
        ev_base, _, base_size = walk(
            server.port, f"/bench-baseline/{big}/everything", {}, args.everything_runs
        )
    finally:
        server.stop()

    print()
    print(
        f"{'scenario':<34} {'api/s':>8} {'base/s':>8} {'ratio':>6}"
        f"   {'api p50':>7} {'p95':>7} {'p99':>7}   {'base p50':>7} {'p95':>7} {'p99':>7}  (ms)"
    )
    for name, api, base in results:
        print(line(name, api, base))
    print()
    print(
        f"$everything of {api_rows} resources ({pages} pages of _count={args.everything_count},"
        f" {size / 1e6:.1f} MB) vs baseline {base_rows} rows in one stream"
        f" ({base_size / 1e6:.1f} MB),"
        f" {args.everything_runs} runs each:"
    )
    a, b = statistics.median(ev_api.latencies), statistics.median(ev_base.latencies)
    print(
        f"  api median {a:.2f} s (p95 {ev_api.pct(0.95) / 1000:.2f} s), baseline median {b:.2f} s"
        f" (p95 {ev_base.pct(0.95) / 1000:.2f} s): {a / b:.2f}x the baseline's time (target <= 2)"
    )
    print()
    for name, api, base in results:
        ratio = api.throughput / base.throughput
        verdict = "ok" if ratio >= 0.5 else "BELOW TARGET"
        print(f"  {name.strip():<34} throughput ratio {ratio:.2f} (target >= 0.5): {verdict}")
    verdict = "ok" if a / b <= 2 else "ABOVE TARGET"
    print(f"  $everything time ratio {a / b:.2f} (target <= 2): {verdict}")
    print(f"server log: {log_path}")


if __name__ == "__main__":
    main()
