"""`etl.fetch.bundle_head`: a page's links read before its entries are parsed.

Whatever the head says must be what parsing the whole page says; where that is
not certain it answers None (and the fetch thread parses the whole page)."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from etl.fetch import bundle_head, next_link

NEXT = {"relation": "next", "url": "https://payer.example/fhir/EOB?page=2"}
ENTRY = {"fullUrl": "urn:x", "resource": {"resourceType": "Coverage", "id": "c1"}}


def _text(*members: tuple[str, object]) -> bytes:
    return orjson.dumps(dict(members))


def test_links_before_entries_are_read_from_the_head():
    body = _text(
        ("resourceType", "Bundle"), ("type", "searchset"), ("link", [NEXT]), ("entry", [ENTRY])
    )
    members, empty = bundle_head(body)
    assert members == {"resourceType": "Bundle", "type": "searchset", "link": [NEXT]}
    assert empty is False
    assert next_link(members, "https://payer.example/fhir/EOB") == NEXT["url"]


def test_an_empty_entry_array_is_seen_with_or_without_spaces():
    assert bundle_head(b'{"resourceType":"Bundle","link":[],"entry":[]}')[1] is True
    assert bundle_head(b'{ "resourceType" : "Bundle" , "link" : [ ] ,\n "entry" : [ \n ] }')[1]


def test_a_page_cut_short_in_its_entries_still_has_its_head():
    body = _text(("resourceType", "Bundle"), ("link", [NEXT]), ("entry", [ENTRY]))
    members, empty = bundle_head(body[:-30])
    assert members["link"] == [NEXT] and empty is False


def test_whatever_is_not_certain_is_left_to_the_whole_parse():
    # links after the entries (the head cannot say there are none)
    assert (
        bundle_head(_text(("resourceType", "Bundle"), ("entry", [ENTRY]), ("link", [NEXT]))) is None
    )
    # the first "entry" member belongs to a nested object: the cut does not parse
    nested = _text(
        ("resourceType", "Bundle"), ("meta", {"entry": [1]}), ("link", []), ("entry", [])
    )
    assert bundle_head(nested) is None
    # not a Bundle; no entry array; not JSON at all
    assert bundle_head(b'{"resourceType":"OperationOutcome","link":[],"entry":[]}') is None
    assert bundle_head(b'{"resourceType":"Bundle","link":[],"entry":null}') is None
    assert bundle_head(b'{"resourceType":"Bundle","link":[') is None
    assert bundle_head(b"<html>entry</html>") is None


def test_entry_inside_a_string_is_not_a_member():
    body = _text(
        ("resourceType", "Bundle"), ("id", 'x", "entry": [ '), ("link", [NEXT]), ("entry", [])
    )
    members, empty = bundle_head(body)
    assert members["id"] == 'x", "entry": [ ' and members["link"] == [NEXT] and empty is True


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["entry", "link", "x", 'e"entry":[']), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    members=st.dictionaries(
        st.sampled_from(["resourceType", "link", "entry", "meta", "id", "total", "type"]),
        _json,
        max_size=6,
    ),
    bundle=st.booleans(),
    pretty=st.booleans(),
)
def test_the_head_agrees_with_the_whole_parse(members, bundle, pretty):
    if bundle:
        members["resourceType"] = "Bundle"
    body = orjson.dumps(members, option=orjson.OPT_INDENT_2 if pretty else 0)
    head = bundle_head(body)
    if head is None:
        return
    whole = orjson.loads(body)
    found, empty = head
    assert whole["resourceType"] == "Bundle"
    assert found["link"] == whole["link"]
    assert empty == (whole["entry"] == [])
    assert next_link(found, "https://p.example/") == next_link(whole, "https://p.example/")
