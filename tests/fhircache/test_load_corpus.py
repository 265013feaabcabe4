"""Every real payer file loads; only the unservable is quarantined; what fails
structural validation is stored, tagged and keeps its outcome; references
resolve; reloads change nothing."""

from __future__ import annotations

import orjson
import pytest
from django.db import connection

from fhircache import criteria as c
from fhircache import repository
from fhircache.loader import load_resources
from fhircache.normalize.ids import cache_id
from tests.fhircache.conftest import DATASETS, corpus_files, data_files, resources_in, source_for


def _snapshot(consent) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resource_type, resource_id, version, last_updated, content_hash"
            " FROM fhircache_resource WHERE consent_id = %s ORDER BY 1, 2",
            [consent.pk],
        )
        return cursor.fetchall()


# Serve unless unservable: of the whole corpus only these are quarantined, and why.
UNSERVABLE = {
    # an OpenID Connect userinfo response, not a FHIR resource: no resourceType
    "bluebutton-v2/userinfo_v2.json": ["resourceType is missing or not a string"],
}


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_file_loads_and_only_the_unservable_is_quarantined(dataset, consent):
    """Every file of the corpus (CapabilityStatements and userinfo too), one by one."""
    distinct, without_id = set(), 0
    for path in corpus_files(dataset):
        result = load_resources(consent, [path.read_bytes()], source=source_for())
        name = f"{dataset}/{path.name}"
        reasons = [q.reason for q in _new_quarantine(consent, result.quarantined)]
        assert reasons == UNSERVABLE.get(name, []), name
        if name in UNSERVABLE:
            continue
        for resource in resources_in(path):
            if "id" in resource:
                distinct.add((resource["resourceType"], cache_id(resource["id"])))
            else:
                without_id += 1  # stored under an id derived from its content
        for resource_type, counts in result.by_type.items():
            assert counts["received"] >= counts["quarantined"] + counts["flagged"], resource_type
        assert result.flagged == sum(c["flagged"] for c in result.by_type.values())
        assert result.stored == sum(
            c["created"] + c["updated"] + c["unchanged"] for c in result.by_type.values()
        )
    stored_keys = _snapshot_keys(consent)
    assert distinct <= stored_keys and len(stored_keys) == len(distinct) + without_id


def _new_quarantine(consent, how_many: int):
    from fhircache.models import QuarantinedResource

    rows = QuarantinedResource.objects.filter(consent=consent).order_by("-created_at", "-pk")
    return list(rows[:how_many])


def _snapshot_keys(consent) -> set[tuple[str, str]]:
    return {(row[0], row[1]) for row in _snapshot(consent)}


@pytest.mark.parametrize("dataset", DATASETS)
def test_loading_a_file_again_changes_nothing(dataset, consent):
    """(The same resource differs between some files of a dataset, a read and a
    search of it, so each file is reloaded right after itself.)"""
    for path in data_files(dataset):
        first = load_resources(consent, [path.read_bytes()], source=source_for())
        before, outcomes = _snapshot(consent), repository.outcome_count(consent)
        again = load_resources(consent, [path.read_bytes()], source=source_for())
        assert again.created == again.updated == 0, path.name
        assert again.flagged == first.flagged, path.name
        assert _snapshot(consent) == before, path.name
        assert repository.outcome_count(consent) == outcomes, path.name
    assert repository.quarantine_count(consent) == 0


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
def test_what_is_stored_is_valid_or_flagged_with_its_outcome(dataset, consent):
    """Normalization keeps valid resources valid; every stored resource that
    failed structural validation carries our tag and has its OperationOutcome."""
    from fhircache.normalize.quality import QUALITY_SYSTEM, STRUCTURE_INVALID
    from fhircache.normalize.validation import validate

    files = data_files(dataset)
    result = load_resources(consent, (p.read_bytes() for p in files), source=source_for())
    after, checked, flagged = None, 0, 0
    while True:
        page = repository.search(consent, None, after=after, limit=500)
        for row in page.rows:
            resource = orjson.loads(row.content)
            assert (resource["resourceType"], resource["id"]) == (
                row.resource_type,
                row.resource_id,
            )
            tags = [
                t["code"] for t in resource["meta"].get("tag", []) if t["system"] == QUALITY_SYSTEM
            ]
            outcome = repository.read_outcome(consent, row.resource_type, row.resource_id)
            if tags:
                flagged += 1
                assert tags == [STRUCTURE_INVALID], row.key
                assert outcome["resourceType"] == "OperationOutcome", row.key
                assert any(i["severity"] == "error" for i in outcome["issue"]), row.key
                assert validate(resource) is not None, row.key
            else:
                assert outcome is None, row.key
                assert validate(resource) is None, row.key
            checked += 1
        if (after := page.next_after) is None:
            break
    assert checked == sum(repository.counts(consent).values())
    assert flagged == repository.outcome_count(consent)
    # and _tag search finds exactly them
    tag = [c.Token("_tag", ((QUALITY_SYSTEM, STRUCTURE_INVALID),))]
    assert repository.count(consent, None, tag) == flagged
    assert (flagged > 0) == (dataset != "cpcds") and (result.flagged > 0) == (flagged > 0)
