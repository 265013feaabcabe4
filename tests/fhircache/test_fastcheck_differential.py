"""The compiled pre-check never accepts what fhir.resources rejects.

Checked on every resource of the real corpus and on generated mutations of
them (deleted elements, unknown elements, wrong datatypes, bad dates, doubled
choice elements, nulls, empty arrays and objects, lists for singletons).
"""

from __future__ import annotations

import copy
import random

import pytest

from fhircache.normalize import fastcheck
from fhircache.normalize.validation import validate
from tests.fhircache.conftest import DATASETS, data_files, resources_in

BAD_VALUES = [
    None,
    "",
    " ",
    0,
    -1,
    3.5,
    True,
    "true",
    "5",
    [],
    {},
    ["x"],
    {"x": 1},
    "2020-02-30",
    "2020-13-01",
    "20200101",
    "2020-01-01T10:00:00",
    "0000",
    "a b",
    "x" * 70,
    "http://",
    "not a url",
    "Patient/1",
    "#x",
    "urn:uuid:1",
]


def corpus() -> list[dict]:
    return [r for ds in DATASETS for p in data_files(ds) for r in resources_in(p)]


def _nodes(value, path=()):
    """(container, key) of every element below `value`."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield value, key
            yield from _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield value, i
            yield from _nodes(child, (*path, i))


def mutate(resource: dict, rng: random.Random) -> dict:
    mutated = copy.deepcopy(resource)
    nodes = list(_nodes(mutated))
    container, key = rng.choice(nodes)
    kind = rng.randrange(8)
    if kind == 0 and isinstance(container, dict):
        del container[key]
    elif kind == 1 and isinstance(container, dict):
        container[rng.choice(["bogus", "_bogus", "resourceType", "valueBoolean", "url"])] = "x"
    elif kind == 2 and isinstance(container, dict) and str(key).startswith("value"):
        container["valueString" if key != "valueString" else "valueCode"] = "duplicate"
    elif kind == 3:
        value = container[key]
        container[key] = [value] if not isinstance(value, list) else (value[0] if value else None)
    elif kind == 4 and isinstance(container, dict) and isinstance(container[key], dict):
        container[key]["resourceType"] = rng.choice(["Patient", "Nope", 7])
    else:
        container[key] = copy.deepcopy(rng.choice(BAD_VALUES))
    return mutated


def test_corpus_fast_acceptance_implies_fhir_resources_acceptance():
    accepted_by_both = 0
    for resource in corpus():
        if fastcheck.accepts(resource):
            assert validate(resource) is None, resource.get("id")
            accepted_by_both += 1
    # the pre-check is useful only if it accepts the valid real data
    valid = sum(1 for r in corpus() if validate(r) is None)
    assert accepted_by_both == valid


@pytest.mark.parametrize("seed", range(4))
def test_mutations_fast_acceptance_implies_fhir_resources_acceptance(seed):
    rng = random.Random(seed)
    resources = [r for r in corpus() if validate(r) is None]
    rejected_by_fhir = 0
    for _ in range(1000):
        mutated = mutate(rng.choice(resources), rng)
        fhir_rejects = validate(mutated) is not None
        rejected_by_fhir += fhir_rejects
        if fhir_rejects:
            assert not fastcheck.accepts(mutated), mutated
    assert rejected_by_fhir > 300  # the mutations do exercise the validator


EDGE_VALUES = [
    *BAD_VALUES,
    "2020-02-29",
    "2021-02-29",
    "2020-04-31",
    "2020-01-01T24:00:00Z",
    "2020-01-01T23:59:60Z",
    "2020-01-01T10:00:00.1234567+14:00",
    "2020-01-01T10:00:00+15:00",
    "10:00:00",
    "24:00:00",
    "10:00",
    "YWJj",
    "YWJjZA==",
    "abc",
    "urn:oid:1.2.3",
    "urn:oid:3.1",
    "http://a b",
    "https://example.org:8080/x?y=1",
    "ftp://x",
    2**31,
    -(2**31) - 1,
    1e300,
    -0.0,
    0.1,
    "0.1",
    "-",
    "a\tb",
    "a  b",
    " a",
    "x" * 65,
    "0001",
    "0000-01",
]


def test_every_datatype_through_extension_value_x():
    """Extension.value[x] carries every FHIR datatype: try each with edge values."""
    from fhir.resources.R4B.extension import Extension

    choices = [name for name in Extension.model_fields if name.startswith("value")]
    checked = 0
    for choice in choices:
        for value in EDGE_VALUES:
            resource = {
                "resourceType": "Basic",
                "code": {"text": "x"},
                "extension": [{"url": "http://example.org/x", choice: value}],
            }
            if validate(resource) is not None:
                assert not fastcheck.accepts(resource), (choice, value)
            checked += 1
    assert checked > 1000
