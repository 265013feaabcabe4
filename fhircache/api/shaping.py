"""Reshaping stored resource bytes for `_elements` and `_summary=data` (R4 §3.1.1.5.8-9).

Only when asked: the stored bytes are otherwise sent untouched. Numbers keep
their text through the reshape (`negotiation.loads_exact`).
"""

from __future__ import annotations

import orjson

from fhircache.api.negotiation import loads_exact

# kept by `_elements` whatever is asked (the mandatory elements of every resource)
_ALWAYS = ("resourceType", "id", "meta")
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


def _mark_subsetted(resource: dict) -> None:
    meta = resource.setdefault("meta", {})
    tags = meta.setdefault("tag", [])
    if not any(t.get("code") == "SUBSETTED" for t in tags if isinstance(t, dict)):
        tags.append(dict(SUBSETTED))


def shape(content: bytes, elements: tuple[str, ...] | None, summary: str | None) -> bytes:
    """The resource with only `elements` (plus mandatory ones), or without `text`
    for `_summary=data`; marked SUBSETTED as the spec requires."""
    if elements is None and summary != "data":
        return content
    resource = loads_exact(content)
    if not isinstance(resource, dict):
        return content
    if elements is not None:
        keep = set(elements) | set(_ALWAYS)
        resource = {k: v for k, v in resource.items() if k in keep}
    if summary == "data":
        resource.pop("text", None)
    _mark_subsetted(resource)
    return orjson.dumps(resource)
