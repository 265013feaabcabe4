"""Every real payer file loads; counts add up; references resolve; reloads change nothing."""

from __future__ import annotations

import orjson
import pytest
from django.db import connection

from fhircache import repository
from fhircache.loader import load_resources
from fhircache.normalize.ids import cache_id
from tests.fhircache.conftest import DATASETS, data_files, resources_in, source_for


def _snapshot(consent) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resource_type, resource_id, version, last_updated, content_hash"
            " FROM fhircache_resource WHERE consent_id = %s ORDER BY 1, 2",
            [consent.pk],
        )
        return cursor.fetchall()


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_file_loads_counts_add_up_and_reload_changes_nothing(dataset, consent):
    files = data_files(dataset)
    distinct = set()
    for path in files:
        for resource in resources_in(path):
            distinct.add((resource["resourceType"], cache_id(resource["id"])))
    result = load_resources(consent, (p.read_bytes() for p in files), source=source_for())
    assert result.received == sum(len(resources_in(p)) for p in files)
    stored = sum(repository.counts(consent).values())
    # the same resource appears in several files (reads and searches of it)
    quarantined_keys = {
        (q.resource_type, cache_id(q.source_id)) for q in consent_quarantine(consent)
    }
    assert stored == len(distinct - quarantined_keys)
    assert result.quarantined == result.received - result.stored

    before = _snapshot(consent)
    again = load_resources(consent, (p.read_bytes() for p in files), source=source_for())
    assert again.created == again.updated == 0
    assert _snapshot(consent) == before
    assert repository.quarantine_count(consent) == len(
        {q.digest for q in consent_quarantine(consent)}
    )


def consent_quarantine(consent):
    from fhircache.models import QuarantinedResource

    return list(QuarantinedResource.objects.filter(consent=consent))


def test_cpcds_patient_has_no_dangling_references(consent):
    """A transaction bundle is self-contained: every urn:uuid resolves in the store."""
    path = next(p for p in data_files("cpcds") if p.name.startswith("Walter473"))
    result = load_resources(consent, [path.read_bytes()], source=source_for(), full_sync=True)
    assert result.quarantined == 0
    assert result.unresolved == []
    assert result.dangling == []
    assert result.created == len(resources_in(path))


@pytest.mark.parametrize("dataset", DATASETS)
def test_dangling_references_are_only_those_the_payer_never_resolved(dataset, consent):
    files = data_files(dataset)
    result = load_resources(
        consent, (p.read_bytes() for p in files), source=source_for(), full_sync=True
    )
    sent = {f"{r['resourceType']}/{cache_id(r['id'])}" for p in files for r in resources_in(p)}
    quarantined = {
        f"{q.resource_type}/{cache_id(q.source_id)}" for q in consent_quarantine(consent)
    }
    for _source, target in result.dangling:
        # either the payer never sent the target, or it sent it and it was quarantined
        assert target not in sent or target in quarantined
    # every reference that is not a local one was reported as unresolved
    for _source, reference in result.unresolved:
        assert "/" not in reference or not reference.startswith(
            tuple(t.split("/")[0] for t in sent)
        )


@pytest.mark.parametrize("dataset", DATASETS)
def test_everything_stored_is_still_valid_fhir(dataset, consent):
    """Normalization (ids, references, codings, displays, source tag) keeps it valid."""
    from fhircache.normalize.validation import validate

    files = data_files(dataset)
    load_resources(consent, (p.read_bytes() for p in files), source=source_for())
    after, checked = None, 0
    while True:
        page = repository.search(consent, None, after=after, limit=500)
        for row in page.rows:
            resource = orjson.loads(row.content)
            assert validate(resource) is None, row.key
            assert (resource["resourceType"], resource["id"]) == (
                row.resource_type,
                row.resource_id,
            )
            checked += 1
        if (after := page.next_after) is None:
            break
    assert checked == sum(repository.counts(consent).values())
