"""Loader throughput against the raw limit, measured in the same run.

    DEBUG=1 .venv/bin/python -m config.devservices run -- .venv/bin/python bench/load.py

Generates one large patient (default 12,000 resources, three quarters of them
ExplanationOfBenefit shaped like the real BFD and CARIN/CPCDS ones in
payers/sandbox/data/fhir), as searchset Bundle pages of JSON bytes. Then:

- raw: the same page bytes parsed with orjson and every resource COPYed into a
  bare jsonb table, one transaction per page;
- loader: `fhircache.loader.load_resources` (every resource validated,
  normalized, indexed, upserted), one transaction per page;

and prints both rates in resources/s and their ratio (pages keep the templates'
number tokens as the payers wrote them, `100.00` and all, so pages that need the
number-preserving parse take it; `--numbers canonical` writes them as orjson
does), the cost of an idempotent reload, of deleting the consent's data, and
the per-EOB cost of each validator. Not part of the test suite. Uses the dev
database (migrates it) and removes what it created.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "payers" / "sandbox" / "data" / "fhir"
# The non-EOB types the generated patient carries (beside one Patient).
OTHER_TYPES = (
    "Observation",
    "Encounter",
    "Condition",
    "Procedure",
    "Immunization",
    "MedicationRequest",
    "Coverage",
)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _bfd_templates() -> list[dict]:
    """BFD EOBs of every claim type; the test fixtures' placeholders made real."""
    out = []
    for path in sorted((DATA / "bfd-v2").glob("eobRead*.json")):
        text = path.read_bytes().replace(b'"IGNORED_FIELD"', b'"2024-03-01T12:00:00.000+00:00"')
        value = _parse(text)
        if value["resourceType"] == "Bundle":
            out.extend(e["resource"] for e in value["entry"])
        else:
            out.append(value)
    return out


def _cpcds_templates() -> tuple[list[dict], list[dict]]:
    """(EOBs, other clinical resources) of the CPCDS patients, urn:uuid made relative."""
    eobs, others = [], []
    for path in sorted((DATA / "cpcds").glob("*.json")):
        raw = path.read_bytes()
        bundle = orjson.loads(raw)
        for entry in bundle.get("entry", []):
            full_url = entry.get("fullUrl", "")
            if full_url.startswith("urn:uuid:"):
                r = entry["resource"]
                raw = raw.replace(
                    f'"{full_url}"'.encode(), f'"{r["resourceType"]}/{r["id"]}"'.encode()
                )
        for entry in _parse(raw).get("entry", []):
            r = entry["resource"]
            if r["resourceType"] == "ExplanationOfBenefit":
                eobs.append(r)
            elif r["resourceType"] in OTHER_TYPES:
                others.append(r)
    return eobs, others


_NUMBERS_AS_WRITTEN = True


def _parse(data: bytes):
    """Payer JSON, with its number tokens as written unless --numbers=canonical."""
    from fhircache.normalize.parse import parse_exact

    return parse_exact(data) if _NUMBERS_AS_WRITTEN else orjson.loads(data)


def generate(total: int, page_size: int, seed: int = 7) -> list[bytes]:
    """Searchset pages (bytes) of one patient: `total` resources."""
    rng = random.Random(seed)
    bfd = _bfd_templates()
    carin, others = _cpcds_templates()
    patient = {
        "resourceType": "Patient",
        "id": "bench-patient",
        "name": [{"family": "Bench", "given": ["Pat"]}],
        "gender": "female",
        "birthDate": "1950-01-01",
    }
    resources: list[dict] = [patient]
    for i in range(total - 1):
        roll = rng.random()
        template = rng.choice(bfd if roll < 0.375 else carin if roll < 0.75 else others)
        r = _parse(orjson.dumps(template))
        r["id"] = f"bench-{i}"
        for key in ("patient", "subject", "beneficiary"):
            if key in r:
                r[key] = {"reference": "Patient/bench-patient"}
        if "billablePeriod" in r:
            day = f"20{rng.randrange(15, 25)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            r["billablePeriod"] = {"start": day, "end": day}
        resources.append(r)
    pages = []
    for start in range(0, len(resources), page_size):
        chunk = resources[start : start + page_size]
        pages.append(
            orjson.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": len(resources),
                    "entry": [
                        {
                            "fullUrl": f"https://payer.example/fhir/{r['resourceType']}/{r['id']}",
                            "resource": r,
                        }
                        for r in chunk
                    ],
                }
            )
        )
    return pages


def raw_load(pages: list[bytes]) -> float:
    """Seconds to parse every page with orjson and COPY its resources into jsonb."""
    from django.db import connection, transaction
    from psycopg.types.json import Jsonb

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw")
        cursor.execute("CREATE TABLE bench_raw (doc jsonb)")
    dumps = lambda v: orjson.dumps(v).decode()  # noqa: E731
    started = time.perf_counter()
    for page in pages:
        gc.disable()  # the same collector pause the loader uses while parsing
        bundle = orjson.loads(page)
        gc.enable()
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy("COPY bench_raw (doc) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["jsonb"])
                for entry in bundle["entry"]:
                    copy.write_row((Jsonb(entry["resource"], dumps=dumps),))
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_raw")
    return elapsed


_EXECUTEMANY_UPSERT = """
INSERT INTO fhircache_resource AS r (consent_id, resource_type, resource_id, version,
    last_updated, content_hash, content, source_id, tokens, refs, dates, strings, links)
VALUES (%s, %s, %s, 1, COALESCE(%s, now()), %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (consent_id, resource_type, resource_id) DO UPDATE SET
    version = r.version + 1, last_updated = EXCLUDED.last_updated,
    content_hash = EXCLUDED.content_hash, content = EXCLUDED.content,
    source_id = EXCLUDED.source_id, tokens = EXCLUDED.tokens, refs = EXCLUDED.refs,
    dates = EXCLUDED.dates, strings = EXCLUDED.strings, links = EXCLUDED.links
WHERE r.content_hash <> EXCLUDED.content_hash
"""


def upsert_strategies(consent, pages: list[bytes], source) -> dict[str, float]:
    """Seconds to write the already-normalized pages: COPY + staging (what the
    repository does) against psycopg's pipelined executemany of the same upsert."""
    from django.db import connection, transaction

    from fhircache import repository
    from fhircache.normalize.pipeline import normalize_page
    from fhircache.normalize.validation_fast import check

    normalized = []
    for page in pages:
        entries = [(e.get("fullUrl"), e["resource"]) for e in orjson.loads(page)["entry"]]
        normalized.append(normalize_page(entries, source, check=check).resources)
    started = time.perf_counter()
    for rows in normalized:
        repository.save_page(consent, rows, guard=False)
    copy_s = time.perf_counter() - started
    repository.delete_consent_data(consent)
    started = time.perf_counter()
    for rows in normalized:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.cursor.executemany(
                _EXECUTEMANY_UPSERT,
                # the resource columns only (the staging row also carries the outcome)
                [(consent.pk, *repository.row_values(r)[:11]) for r in rows],
            )
    executemany_s = time.perf_counter() - started
    repository.delete_consent_data(consent)
    return {"copy_staging": copy_s, "executemany": executemany_s}


def _validate_page_with_fhir_resources(page: bytes) -> int:
    from fhircache.normalize.validation import validate

    return sum(validate(e["resource"]) is None for e in orjson.loads(page)["entry"])


def fhir_resources_pool_rate(pages: list[bytes], workers: int) -> float:
    """Resources/s that fhir.resources alone validates in a pool of processes:
    the ceiling of a loader that used it on the hot path."""
    from concurrent.futures import ProcessPoolExecutor

    sample = pages[: max(4, len(pages) // 4)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_validate_page_with_fhir_resources, sample[:workers]))  # warm up
        started = time.perf_counter()
        validated = sum(pool.map(_validate_page_with_fhir_resources, sample))
    return validated / (time.perf_counter() - started)


def validator_costs(pages: list[bytes]) -> dict[str, float]:
    """Per-EOB microseconds of fhir.resources and of the compiled pre-check."""
    from fhircache.normalize import fastcheck
    from fhircache.normalize.validation import validate

    eobs = [
        e["resource"]
        for p in pages[:40]
        for e in orjson.loads(p)["entry"]
        if e["resource"]["resourceType"] == "ExplanationOfBenefit"
    ][:300]
    fastcheck.accepts(eobs[0])
    t = time.perf_counter()
    fast_ok = sum(fastcheck.accepts(r) for r in eobs)
    fast = (time.perf_counter() - t) / len(eobs)
    t = time.perf_counter()
    slow_ok = sum(validate(r) is None for r in eobs)
    slow = (time.perf_counter() - t) / len(eobs)
    return {
        "eobs": len(eobs),
        "fast_us": fast * 1e6,
        "fhir_resources_us": slow * 1e6,
        "fast_accepted": fast_ok,
        "fhir_resources_accepted": slow_ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=12_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument(
        "--numbers",
        choices=("as-written", "canonical"),
        default="as-written",
        help="pages carry the templates' number tokens as the payers wrote them (100.00),"
        " or as orjson writes them (100.0: every page takes the fast path)",
    )
    args = parser.parse_args()
    global _NUMBERS_AS_WRITTEN
    _NUMBERS_AS_WRITTEN = args.numbers == "as-written"

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from consent.models import App, Consent
    from fhircache import repository
    from fhircache.loader import SourceInfo, load_resources
    from fhircache.normalize.fastcheck import validator
    from payers.models import Payer

    pages = generate(args.resources, args.page_size)
    total = sum(len(orjson.loads(p)["entry"]) for p in pages)
    megabytes = sum(len(p) for p in pages) / 1e6
    eob_share = (
        sum(
            e["resource"]["resourceType"] == "ExplanationOfBenefit"
            for p in pages
            for e in orjson.loads(p)["entry"]
        )
        / total
    )
    from fhircache.normalize.parse import parse_page

    exact_pages = sum(parse_page(p)[1] is not None for p in pages)
    print(
        f"generated {total} resources ({eob_share:.0%} EOB) in {len(pages)} pages,"
        f" {megabytes:.1f} MB; {os.cpu_count()} CPUs; numbers {args.numbers}:"
        f" {exact_pages} pages need the number-preserving parse"
    )

    for rtype in ("ExplanationOfBenefit", *OTHER_TYPES, "Patient"):
        validator(rtype)  # compile once, outside the timings (a worker does it at start)

    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    payer = Payer.objects.create(
        slug=f"bench-{suffix}", name=f"Bench {suffix}", fhir_base_url="https://payer.example/fhir"
    )
    app = App.objects.create(name=f"Bench {suffix}", client_id=f"bench-{suffix}")
    consent = Consent.objects.create(app=app, payer=payer, patient_id="bench-patient")
    source = SourceInfo(
        payer=payer.slug, base_url=payer.fhir_base_url, fetched_at=datetime.now(UTC)
    )
    try:
        raw_s = raw_load(pages)
        started = time.perf_counter()
        first = load_resources(consent, pages, source=source)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        again = load_resources(consent, pages, source=source)
        reload_s = time.perf_counter() - started
        stored = sum(repository.counts(consent).values())
        started = time.perf_counter()
        deleted = repository.delete_consent_data(consent)
        delete_s = time.perf_counter() - started
        strategies = upsert_strategies(consent, pages, source)
    finally:
        repository.delete_consent_data(consent)
        consent.delete()
        app.delete()
        payer.delete()

    raw_rate, load_rate = total / raw_s, total / load_s
    print(
        f"raw limit (orjson parse + COPY into jsonb): {raw_rate:,.0f} resources/s ({raw_s:.2f} s)"
    )
    print(
        f"loader (validate + normalize + index + upsert): {load_rate:,.0f} resources/s"
        f" ({load_s:.2f} s; created {first.created}, quarantined {first.quarantined},"
        f" stored {stored})"
    )
    print(f"ratio loader/raw: {load_rate / raw_rate:.2f}")
    print(
        f"idempotent reload: {total / reload_s:,.0f} resources/s ({reload_s:.2f} s;"
        f" created {again.created}, updated {again.updated}, unchanged {again.unchanged})"
    )
    print(f"delete_consent_data: {deleted['resources']} rows in {delete_s * 1000:.0f} ms")
    print(
        f"writing the normalized rows only: COPY + staging upsert"
        f" {total / strategies['copy_staging']:,.0f} resources/s, pipelined executemany"
        f" {total / strategies['executemany']:,.0f} resources/s"
    )
    workers = os.cpu_count() or 2
    print(
        f"fhir.resources alone in {workers} processes (parsing included, no database):"
        f" {fhir_resources_pool_rate(pages, workers):,.0f} resources/s"
    )
    costs = validator_costs(pages)
    print(
        f"per EOB ({costs['eobs']}): compiled pre-check {costs['fast_us']:.0f} us"
        f" (accepted {costs['fast_accepted']}), fhir.resources"
        f" {costs['fhir_resources_us']:.0f} us (accepted {costs['fhir_resources_accepted']})"
    )


if __name__ == "__main__":
    main()
