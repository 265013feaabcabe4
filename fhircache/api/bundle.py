"""Searchset Bundles assembled from stored bytes (FHIR R4 §3.1.1.2, Bundle).

Each entry's `resource` is the row's stored JSON, spliced in as it is: the
resources are never parsed or re-dumped, so a page costs what copying it does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from fhircache.api.outcome import operation_outcome


def entry(base: str, resource_type: str, resource_id: str, content: bytes, mode: str) -> bytes:
    url = orjson.dumps(f"{base}/{resource_type}/{resource_id}")
    return (
        b'{"fullUrl":'
        + url
        + b',"resource":'
        + content
        + b',"search":{"mode":"'
        + mode.encode()
        + b'"}}'
    )


def outcome_entry(issues: list[dict]) -> bytes:
    return orjson.dumps(
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": operation_outcome(issues),
            "search": {"mode": "outcome"},
        }
    )


def searchset(total: int | None, links: list[tuple[str, str]], entries: list[bytes]) -> bytes:
    head: dict = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": datetime.now(UTC).isoformat().replace("+00:00", "Z")},
        "type": "searchset",
    }
    if total is not None:
        head["total"] = total
    head["link"] = [{"relation": relation, "url": url} for relation, url in links]
    if not entries:  # FHIR JSON has no empty arrays
        return orjson.dumps(head)
    opening = orjson.dumps(head)[:-1]  # without its closing brace
    return opening + b',"entry":[' + b",".join(entries) + b"]}"
