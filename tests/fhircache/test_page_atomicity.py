"""A concurrent reader sees whole pages or nothing of them (one transaction per page)."""

from __future__ import annotations

import threading

import orjson
import pytest
from django.db import DatabaseError, IntegrityError, connection

from fhircache import repository
from fhircache.loader import load_resources
from tests.fhircache.conftest import FHIR_DATA, resources_in, source_for

PAGE = 300


def _pages(count: int) -> list[bytes]:
    observations = [
        r
        for r in resources_in(FHIR_DATA / "cpcds/Wade235_Schmidt332.json")
        if r["resourceType"] == "Observation"
    ]
    pages = []
    for p in range(count):
        entries = []
        for i in range(PAGE):
            resource = dict(observations[i % len(observations)], id=f"obs-{p}-{i}")
            entries.append({"resource": resource})
        pages.append(
            orjson.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries})
        )
    return pages


@pytest.mark.django_db(transaction=True)
def test_a_reader_never_sees_half_a_page(make_consent):
    consent = make_consent()
    pages = _pages(4)
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(repository.count(consent, "Observation"))
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = load_resources(consent, pages, source=source_for())
    finally:
        done.set()
        reader.join()
    assert result.created == 4 * PAGE
    assert seen and all(n % PAGE == 0 for n in seen), sorted(set(seen))
    repository.delete_consent_data(consent)


@pytest.mark.django_db(transaction=True)
def test_a_failing_page_write_reaches_the_caller(make_consent):
    consent = make_consent()
    consent_id = consent.pk
    consent.delete()  # the foreign key now fails on the writer's connection
    with pytest.raises(IntegrityError):
        load_resources(consent_id, _pages(3), source=source_for())


_TRIGGER = """
CREATE OR REPLACE FUNCTION fhircache_test_boom() RETURNS trigger AS $$
BEGIN
    IF NEW.source_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER fhircache_test_boom BEFORE INSERT ON fhircache_quarantine
    FOR EACH ROW EXECUTE FUNCTION fhircache_test_boom();
"""
_NO_TRIGGER = """
DROP TRIGGER IF EXISTS fhircache_test_boom ON fhircache_quarantine;
DROP FUNCTION IF EXISTS fhircache_test_boom();
"""


def _page(*resources: dict) -> bytes:
    entries = [{"resource": r} for r in resources]
    return orjson.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries})


def _patient(rid: str, family: str = "Same") -> dict:
    return {"resourceType": "Patient", "id": rid, "name": [{"family": family}]}


# unservable (an unknown type): fails when its quarantine record is written,
# after the page's upsert
BOOM = {"resourceType": "NotAFhirType", "id": "boom"}


def _load_with_a_page_failing_halfway(consent) -> None:
    load_resources(consent, [_page(_patient("p1"))], source=source_for())
    pages = [
        _page(_patient("p1", "Changed"), _patient("p2"), BOOM),
        _page(_patient("p3")),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_TRIGGER)
    try:
        with pytest.raises(DatabaseError, match="boom"):
            load_resources(consent, pages, source=source_for())
    finally:
        with connection.cursor() as cursor:
            cursor.execute(_NO_TRIGGER)
    # the failed page left nothing behind, and no later page was written
    assert repository.counts(consent) == {"Patient": 1}
    row = repository.read(consent, "Patient", "p1")
    assert row.version == 1 and b"Changed" not in row.content
    assert repository.quarantine_count(consent) == 0


@pytest.mark.django_db(transaction=True)
def test_a_page_failing_halfway_on_the_writer_thread_leaves_the_store_as_it_was(make_consent):
    consent = make_consent()
    try:
        _load_with_a_page_failing_halfway(consent)
    finally:
        repository.delete_consent_data(consent)


def test_a_page_failing_halfway_inline_leaves_the_store_as_it_was(consent):
    _load_with_a_page_failing_halfway(consent)


def test_a_resource_twice_in_one_page_is_stored_once_and_reloads_unchanged(consent):
    page = _page(_patient("p1", "First"), _patient("p2"), _patient("p1", "Last"))
    result = load_resources(consent, [page], source=source_for())
    assert (result.received, result.created, result.stored) == (3, 2, 2)
    row = repository.read(consent, "Patient", "p1")
    assert b"Last" in row.content and row.version == 1
    again = load_resources(consent, [page], source=source_for())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert repository.read(consent, "Patient", "p1").version == 1
