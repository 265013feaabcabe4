"""A concurrent reader sees whole pages or nothing of them (one transaction per page)."""

from __future__ import annotations

import threading

import orjson
import pytest
from django.db import IntegrityError, connection

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
