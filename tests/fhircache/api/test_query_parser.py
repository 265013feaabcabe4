"""The search-parameter parser on its own: values, prefixes, precision, modifiers, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fhircache import criteria as c
from fhircache.api.outcome import FhirError
from fhircache.api.query import MAX_COUNT, Include, parse, parse_date, split_values

EOB = "ExplanationOfBenefit"


def one(resource_type: str, name: str, value: str) -> c.Criterion:
    (criterion,) = parse(resource_type, [(name, value)]).criteria
    return criterion


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("2015", "2015-01-01T00:00:00.000000Z", "2015-12-31T23:59:59.999999Z"),
        ("2016-02", "2016-02-01T00:00:00.000000Z", "2016-02-29T23:59:59.999999Z"),
        ("2015-03-04", "2015-03-04T00:00:00.000000Z", "2015-03-04T23:59:59.999999Z"),
        ("2015-03-04T10:20", "2015-03-04T10:20:00.000000Z", "2015-03-04T10:20:59.999999Z"),
        ("2015-03-04T10:20:30Z", "2015-03-04T10:20:30.000000Z", "2015-03-04T10:20:30.999999Z"),
        (
            "2015-03-04T10:20:30.5+02:00",
            "2015-03-04T08:20:30.500000Z",
            "2015-03-04T08:20:30.500000Z",
        ),
    ],
)
def test_a_date_stands_for_the_interval_of_its_precision(value, low, high):
    assert parse_date("created", value) == ("eq", low, high)


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_every_prefix_is_read(prefix):
    assert one(EOB, "created", f"{prefix}2015").op == prefix


def test_ap_widens_by_a_tenth_of_the_gap_to_now():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    _, low, high = parse_date("created", "ap2015-01-01", now=now)
    # ten years (3,653 days) before now: widened by 365.3 days on each side
    assert low == "2013-12-31T16:48:00.000000Z" and high == "2016-01-02T07:11:59.999999Z"


@pytest.mark.parametrize(
    "value", ["xx2015", "2015-13", "2015-02-30", "15-01-01", "2015-01-01T25:00", "ge", "2015/01"]
)
def test_malformed_dates_are_refused_naming_the_parameter(value):
    with pytest.raises(FhirError) as caught:
        parse(EOB, [("service-date", value)])
    assert caught.value.status == 400 and "service-date" in caught.value.diagnostics


def test_token_forms():
    token = one(EOB, "type", "http://sys|code,|bare,http://only|,anycode")
    assert token.values == (
        ("http://sys", "code"),
        ("", "bare"),
        ("http://only", None),
        (None, "anycode"),
    )
    assert not token.negate
    assert one(EOB, "status:not", "active").negate


def test_escaped_separators_are_literal():
    assert split_values(r"a\,b,c") == [r"a\,b", "c"]
    assert one("Patient", "family", r"O\,Brien").values == ("O,Brien",)
    assert one(EOB, "identifier", r"sys|a\|b").values == (("sys", "a|b"),)


def test_reference_forms():
    ref = one(EOB, "patient", "Patient/1,2,http://127.0.0.1:8000/fhir/Patient/3/_history/2")
    assert ref.targets[:2] == ("Patient/1", "2")
    assert one(EOB, "patient:Patient", "7").targets == ("Patient/7",)
    base = "https://pb.example/fhir"
    assert parse(EOB, [("patient", f"{base}/Patient/3")], base_url=base).criteria[0].targets == (
        "Patient/3",
    )


def test_string_modifiers_and_missing():
    assert one("Patient", "family", "smi").mode == "start"
    assert one("Patient", "family:exact", "Smith").mode == "exact"
    assert one("Patient", "family:contains", "mit").mode == "contains"
    assert one(EOB, "payee:missing", "true") == c.Missing("payee", "reference", True)
    assert one(EOB, "created:missing", "false") == c.Missing("created", "date", False)


def test_repeated_parameters_are_anded_and_commas_ored():
    query = parse(EOB, [("service-date", "ge2015"), ("service-date", "lt2016"), ("_id", "a,b")])
    assert [type(x) for x in query.criteria] == [c.Date, c.Date, c.Id]
    assert query.criteria[2].ids == ("a", "b")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bogus", "1"),
        ("type:exact", "x"),  # a token has no :exact
        ("family:not", "x"),  # a string has no :not
        ("patient:identifier", "x"),
        ("patient:missing", "maybe"),
        ("patient.name", "x"),  # chained
        ("_has:Observation:patient:code", "x"),
        ("_count", "-1"),
        ("_count", "ten"),
        ("_sort", "nonsense"),
        ("_sort", "-"),
        ("_total", "some"),
        ("_summary", "true"),
        ("_elements", "a.b"),
        ("_include", "ExplanationOfBenefit:status"),  # not a reference
        ("_include", "Coverage:payor"),  # not this type's, and not :iterate
        ("_include", "nonsense"),
        ("_revinclude", "Nope:patient"),
        ("_lastUpdated", "2015,2016"),
        ("created", "2015,2016"),
    ],
)
def test_unknown_or_malformed_parameters_are_400s_naming_them(name, value):
    with pytest.raises(FhirError) as caught:
        parse(EOB, [(name, value)])
    assert caught.value.status == 400
    assert name.split(":")[0].split(".")[0] in caught.value.diagnostics


def test_lenient_handling_ignores_and_reports():
    query = parse(EOB, [("bogus", "1"), ("status", "active"), ("_count", "x")], lenient=True)
    assert [type(x) for x in query.criteria] == [c.Token]
    assert len(query.ignored) == 2 and "bogus" in query.ignored[0]
    assert query.count == 50


def test_result_parameters():
    query = parse(
        EOB,
        [
            ("_count", "5000"),
            ("_sort", "-service-date,_id,status"),
            ("_include", "ExplanationOfBenefit:*"),
            ("_include:iterate", "Coverage:payor:Organization"),
            ("_revinclude", "Provenance:target"),
            ("_summary", "count"),
            ("_total", "none"),
            ("_elements", "status,type"),
            ("_format", "json"),
            ("_pretty", "true"),
            ("status", ""),  # empty: no criterion
        ],
    )
    assert query.count == MAX_COUNT and query.notes
    assert query.sort == [
        c.Sort("service-date", "date", True),
        c.Sort("_id", None, False),
        c.Sort("status", "token", False),
    ]
    assert query.includes == [
        Include(EOB, "*"),
        Include("Coverage", "payor", "Organization", iterate=True),
    ]
    assert query.revincludes == [Include("Provenance", "target")]
    assert (query.summary, query.total, query.elements) == ("count", "none", ("status", "type"))
    assert query.criteria == []
