"""Payer input built to break the loader: NUL characters (PostgreSQL text and
jsonb cannot hold U+0000), lone surrogates, numbers beyond 64 bits, deep
nesting, over-long fields, dates at the ends of the calendar. Each one is
stored or quarantined; none aborts a load or leaves a page half written."""

from __future__ import annotations

import orjson
import pytest

from fhircache import repository
from fhircache.loader import load_resources
from fhircache.models import QuarantinedResource
from fhircache.normalize.ids import cache_id
from tests.fhircache.conftest import source_for

OK = {"resourceType": "Patient", "id": "ok", "name": [{"family": "Fine"}]}


def _bundle(*resources: dict) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
    )


def _quarantined(consent) -> list[QuarantinedResource]:
    return list(QuarantinedResource.objects.filter(consent=consent).order_by("id"))


def _nested(depth: int) -> dict:
    extension: dict = {"url": "http://example.org/leaf", "valueString": "deep"}
    for _ in range(depth):
        extension = {"url": "http://example.org/node", "extension": [extension]}
    return extension


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param({"resourceType": "Patient", "id": "nul", "gender": "male\x00"}, id="code"),
        pytest.param(
            {"resourceType": "Patient", "id": "nul", "name": [{"family": "Sm\x00ith"}]},
            id="string",
        ),
        pytest.param(
            {"resourceType": "Patient", "id": "nul", "identifier": [{"value": "\x00"}]},
            id="identifier",
        ),
        pytest.param(
            {"resourceType": "Patient", "id": "nul", "photo": [{"title": "\x00"}]},
            id="unindexed-string",
        ),
        pytest.param(
            {"resourceType": "Patient", "id": "nul", "bogus\x00": "x\x00"},
            id="invalid-with-nul",
        ),
        pytest.param({"resourceType": "Patient", "id": "n\x00l"}, id="id"),
        pytest.param(
            {
                "resourceType": "Patient",
                "id": "nul",
                "meta": {"source": "\x00payerbridge-fetched-at\x00"},
            },
            id="our-placeholder",
        ),
    ],
)
def test_nul_characters_are_quarantined_and_never_abort_the_page(consent, hostile):
    result = load_resources(consent, [_bundle(hostile, OK)], source=source_for())
    assert (result.created, result.quarantined) == (1, 1)
    assert repository.counts(consent) == {"Patient": 1}
    (row,) = _quarantined(consent)
    assert "\x00" not in row.content and "\x00" not in row.reason
    assert orjson.loads(row.content) == hostile  # as received, escaped
    # a reload changes nothing
    again = load_resources(consent, [_bundle(hostile, OK)], source=source_for())
    assert (again.unchanged, again.quarantined) == (1, 1)
    assert len(_quarantined(consent)) == 1


def test_a_literal_backslash_u0000_is_text_and_is_stored(consent):
    patient = {"resourceType": "Patient", "id": "bs", "name": [{"family": "a\\u0000\\\\u0000"}]}
    result = load_resources(consent, [_bundle(patient)], source=source_for())
    assert (result.created, result.quarantined) == (1, 0)
    stored = orjson.loads(repository.read(consent, "Patient", "bs").content)
    assert stored["name"] == patient["name"]


def test_raw_nul_bytes_in_unparseable_input_are_quarantined(consent):
    result = load_resources(
        consent, [b'{"resourceType": "Patient\x00', _bundle(OK)], source=source_for()
    )
    assert (result.created, result.quarantined) == (1, 1)
    (row,) = _quarantined(consent)
    assert "\x00" not in row.content and row.content.startswith('{"resourceType": "Patient')


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            {"resourceType": "Patient", "id": "s", "gender": "\ud800"}, id="lone-surrogate"
        ),
        pytest.param(
            {"resourceType": "Patient", "id": "s", "multipleBirthInteger": 2**70}, id="huge-int"
        ),
        pytest.param(
            {"resourceType": "Patient", "id": "s", "extension": [_nested(300)]}, id="deep-valid"
        ),
        pytest.param(
            {"resourceType": "Patient", "id": "s", "bogus": [_nested(300)]}, id="deep-invalid"
        ),
    ],
)
def test_unserializable_resources_given_as_dicts_are_quarantined(consent, value):
    result = load_resources(consent, [value, dict(OK)], source=source_for())
    assert result.created == 1 and result.quarantined == 1
    assert repository.counts(consent) == {"Patient": 1}
    (row,) = _quarantined(consent)
    assert "\x00" not in row.content and row.reason


@pytest.mark.parametrize(("key", "resource_id"), [("extension", "deep"), ("bogus", None)])
def test_deeply_nested_json_text_is_quarantined(consent, key, resource_id):
    """orjson parses 1024 levels but writes only 254: valid, invalid, with or without an id."""
    head = {"resourceType": "Patient", **({"id": resource_id} if resource_id else {})}
    text = orjson.dumps(head)[:-1] + f',"{key}":['.encode()
    ext = b'{"url":"http://example.org/leaf","valueString":"deep"}'
    for _ in range(300):
        ext = b'{"url":"http://example.org/node","extension":[' + ext + b"]}"
    text += ext + b"]}"
    assert orjson.loads(text) == {**head, key: [_nested(300)]}
    page = b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":' + text + b"}]}"
    result = load_resources(consent, [page, _bundle(OK)], source=source_for())
    assert result.created == 1 and result.quarantined == 1
    again = load_resources(consent, [page, _bundle(OK)], source=source_for())
    assert (again.unchanged, again.quarantined) == (1, 1)
    assert len(_quarantined(consent)) == 1


def test_long_resource_types_are_quarantined_and_long_ids_mapped_and_flagged(consent):
    hostile = [
        {"resourceType": "X" * 300, "id": "long-type"},
        {"resourceType": "Patient", "id": "i" * 300},
    ]
    result = load_resources(consent, [_bundle(*hostile, OK)], source=source_for())
    assert (result.created, result.quarantined, result.flagged) == (2, 1, 1)
    assert repository.counts(consent) == {"Patient": 2}
    mapped = cache_id("i" * 300)
    stored = orjson.loads(repository.read(consent, "Patient", mapped).content)
    assert {"url": "originalId", "valueString": "i" * 300} in stored["meta"]["extension"][0][
        "extension"
    ]
    outcome = repository.read_outcome(consent, "Patient", mapped)
    assert any(i.get("expression") == ["Patient.id"] for i in outcome["issue"])


@pytest.mark.parametrize(
    "moment",
    [
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_instants_at_the_ends_of_the_calendar_do_not_abort_the_load(consent, moment):
    observation = {
        "resourceType": "Observation",
        "id": "edge",
        "meta": {"lastUpdated": moment},
        "status": "final",
        "code": {"text": "x"},
        "effectiveDateTime": moment,
    }
    result = load_resources(consent, [_bundle(observation, OK)], source=source_for())
    assert (result.created, result.quarantined) == (2, 0)
    # and every row of the consent reads back (a timestamptz past 9999 would not)
    assert len(repository.search(consent, None).rows) == 2
    # its lastUpdated is no instant of years 1-9999 in UTC: it was stored at the load time
    assert repository.read(consent, "Observation", "edge").last_updated.year >= 2026


@pytest.mark.parametrize("entry", [5, "entries", {"resource": OK}])
def test_a_bundle_whose_entry_is_not_a_list_is_quarantined(consent, entry):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entry}
    result = load_resources(consent, [orjson.dumps(bundle), dict(bundle)], source=source_for())
    assert (result.created, result.quarantined) == (0, 2)
    (row,) = _quarantined(consent)  # the same bytes twice: one record
    assert row.reason == "Bundle.entry is not a list"
