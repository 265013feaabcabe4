"""Benchmark: payer picker search vs a bare indexed SQL query for the same rows.

Run (embedded PostgreSQL, a throwaway test database):

    DEBUG=1 .venv/bin/python -m config.devservices run -- .venv/bin/python bench/picker.py

It creates `test_<db>`, migrates, loads the real directory plus synthetic payers
up to 5,000 rows, then for each query times `payers.directory.search_payers`
(the whole picker search: query parsing, ORM, model instances) against a
hand-written SQL statement returning the same rows, in the same run, and
prints the ratio of medians. The database is dropped at the end.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from django.db import connection  # noqa: E402

from payers.directory import _terms, search_payers  # noqa: E402
from payers.importer import load_entries, read_fixture  # noqa: E402
from payers.models import Payer  # noqa: E402
from payers.states import STATE_CODES  # noqa: E402

TOTAL = 5000
REPEAT = 200
QUERIES = ("blue", "medicaid", "TX", "anthem ca", "united health", "kansas", "zzz")
WORDS = (
    "Blue", "Cross", "Shield", "Health", "Care", "Community", "Plan", "Alliance", "United",
    "Medical", "Partners", "Choice", "Select", "Premier", "Family", "Senior", "Advantage",
    "Mutual", "Valley", "Coast", "Mountain", "River", "Prairie", "Summit", "Harbor",
)  # fmt: skip
LOBS = ("medicare_advantage", "medicaid", "chip", "exchange", "commercial")


def populate() -> None:
    load_entries(read_fixture())
    rng = random.Random(5000)
    states = sorted(STATE_CODES)
    rows = []
    for i in range(TOTAL - Payer.objects.count()):
        name = " ".join(rng.sample(WORDS, 3)) + f" {i}"
        payer = Payer(
            slug=f"bench-{i}",
            name=name,
            brand=rng.choice(WORDS) + " Group",
            aliases=[f"{name.split()[0]} {rng.choice(WORDS)}"],
            lines_of_business=[rng.choice(LOBS)],
            states=rng.sample(states, rng.randint(1, 3)),
            fhir_base_url=f"https://fhir.bench{i}.example/r4",
            status=rng.choice(["active", "not_connected", "not_connected", "disabled"]),
        )
        payer.search_text = payer.build_search_text()
        rows.append(payer)
    Payer.objects.bulk_create(rows, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payers_payer")


def bare_sql(query: str) -> list[str]:
    """The same rows as the picker, written by hand against the same indexes."""
    where = [
        "status <> 'disabled'",
        "NOT (patient_access_unconfirmed AND patient_access_verified_at IS NULL)",
    ]
    params: list[str] = []
    for text, code in _terms(query):
        if code:
            where.append("states @> %s::jsonb")
            params.append(f'["{code}"]')
        else:
            where.append("search_text LIKE %s")
            params.append(f"%{text}%")
    sql = (
        "SELECT slug, name, brand, aliases, states, lines_of_business, status, is_sandbox, "
        "fhir_base_url, published_status, go_live_date, patient_access_unconfirmed, "
        "patient_access_verified_at, last_discovery_ok, last_sync_at, last_sync_success_at, "
        "sync_success_count, sync_failure_count, sync_failures_in_a_row "
        "FROM payers_payer WHERE " + " AND ".join(where) + " ORDER BY "
        "status, name, slug LIMIT 50"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def explain(no_seqscan: bool) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SET enable_seqscan = {'off' if no_seqscan else 'on'}")
        cursor.execute(
            "EXPLAIN SELECT slug FROM payers_payer WHERE search_text LIKE %s", ["%anthem%"]
        )
        plan = " / ".join(row[0].strip() for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    return plan


def median_seconds(func, query: str) -> float:
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        func(query)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        populate()
        print(f"payers in table: {Payer.objects.count()} (test database {test_name})")
        print(f"plan for LIKE '%anthem%': {explain(False)}")
        print(f"  with seq scans off (index usable?): {explain(True)}")
        ratios = []
        print(f"{'query':<16}{'rows':>6}{'picker ms':>12}{'bare SQL ms':>13}{'ratio':>8}")
        for query in QUERIES:
            picked = [p.slug for p in search_payers(query)]
            assert picked == bare_sql(query), f"different rows for {query!r}"
            picker = median_seconds(search_payers, query)
            bare = median_seconds(bare_sql, query)
            ratios.append(picker / bare)
            print(
                f"{query!r:<16}{len(picked):>6}{picker * 1000:>12.3f}{bare * 1000:>13.3f}"
                f"{picker / bare:>8.2f}"
            )
        print(
            f"median ratio picker/bare SQL: {statistics.median(ratios):.2f} "
            f"(max {max(ratios):.2f}; target < 3)"
        )
        return 0 if max(ratios) < 3 else 1
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
