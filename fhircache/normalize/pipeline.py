"""One page of payer resources through every normalizer step.

validate → cache id → CARIN codings → source tag → index → JSON bytes →
references rewritten → displays filled → content hash → fetch time filled in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from fhircache.indexing import Index, extract_index
from fhircache.normalize.carin import add_current_adjudication_codings
from fhircache.normalize.display import fill_displays
from fhircache.normalize.ids import cache_id, content_id
from fhircache.normalize.provenance import SourceInfo, tag_source
from fhircache.normalize.references import ReferenceResolver, rewrite_references
from fhircache.normalize.validation import operation_outcome, validate

# Stands in for the fetch time while the content is hashed, so fetching
# unchanged data again yields the same hash (and no new version). A NUL can
# only appear escaped in JSON text, so payer data cannot contain this.
_FETCHED_PLACEHOLDER = "\x00payerbridge-fetched-at\x00"
_FETCHED_PLACEHOLDER_JSON = orjson.dumps(_FETCHED_PLACEHOLDER)


@dataclass
class NormalizedResource:
    resource_type: str
    resource_id: str
    source_id: str
    last_updated: datetime | None
    content: bytes
    content_hash: bytes
    index: Index
    links: list[str]


@dataclass
class QuarantinedItem:
    resource_type: str
    source_id: str
    digest: str
    reason: str
    outcome: dict
    content: str


@dataclass
class PageResult:
    resources: list[NormalizedResource] = field(default_factory=list)
    quarantined: list[QuarantinedItem] = field(default_factory=list)
    # (resource "Type/id", reference as sent) for references we could not resolve
    unresolved: list[tuple[str, str]] = field(default_factory=list)


def quarantine_item(resource: dict, outcome: dict) -> QuarantinedItem:
    raw = orjson.dumps(resource)
    issues = outcome.get("issue") or [{}]
    first = issues[0]
    reason = first.get("diagnostics", "invalid")
    if first.get("expression"):
        reason = f"{first['expression'][0]}: {reason}"
    source_id = resource.get("id")
    resource_type = resource.get("resourceType")
    return QuarantinedItem(
        resource_type=resource_type if isinstance(resource_type, str) else "",
        source_id=source_id if isinstance(source_id, str) else "",
        digest=hashlib.sha256(raw).hexdigest(),
        reason=reason[:1000],
        outcome=outcome,
        content=raw.decode(),
    )


def quarantine_unparseable(data: bytes | str | dict, message: str) -> QuarantinedItem:
    """The quarantine record of input that is not a JSON object at all."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    issue = {"severity": "error", "code": "structure", "diagnostics": message}
    return QuarantinedItem(
        resource_type="",
        source_id="",
        digest=hashlib.sha256(raw).hexdigest(),
        reason=message[:1000],
        outcome=operation_outcome([issue]),
        content=raw.decode("utf-8", errors="replace"),
    )


def _entry_id(resource: dict, full_url: str | None) -> str:
    source_id = resource.get("id")
    if isinstance(source_id, str) and source_id:
        return cache_id(source_id)
    if full_url:
        tail = full_url.rstrip("/").rsplit("/", 1)[-1].removeprefix("urn:uuid:")
        return cache_id(tail)
    return content_id(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS))


def _last_updated(resource: dict) -> datetime | None:
    value = resource.get("meta", {}).get("lastUpdated")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def normalize_page(
    entries: list[tuple[str | None, dict]],
    source: SourceInfo,
    check=validate,
) -> PageResult:
    """Normalize one page: `entries` are (fullUrl or None, parsed resource)."""
    result = PageResult()
    accepted: list[tuple[str | None, dict, str]] = []
    for full_url, resource in entries:
        outcome = check(resource)
        if outcome is not None:
            result.quarantined.append(quarantine_item(resource, outcome))
            continue
        accepted.append((full_url, resource, _entry_id(resource, full_url)))

    resolver = ReferenceResolver.for_page(
        ((url, r["resourceType"], rid) for url, r, rid in accepted), [source.base_url]
    )
    fetched_at = source.fetched_at.isoformat()
    fetched_json = orjson.dumps(fetched_at)
    for _full_url, resource, rid in accepted:
        original_id = resource.get("id") if isinstance(resource.get("id"), str) else None
        resource_type = resource["resourceType"]
        resource["id"] = rid
        add_current_adjudication_codings(resource)
        tag_source(resource, source, original_id, _FETCHED_PLACEHOLDER)
        index = extract_index(resource, resolver.resolve)
        rewritten = rewrite_references(orjson.dumps(resource), resolver)
        hashed = fill_displays(rewritten.data)
        content_hash = hashlib.blake2b(hashed, digest_size=16).digest()
        content = hashed.replace(_FETCHED_PLACEHOLDER_JSON, fetched_json, 1)
        result.unresolved.extend((f"{resource_type}/{rid}", r) for r in rewritten.unresolved)
        result.resources.append(
            NormalizedResource(
                resource_type=resource_type,
                resource_id=rid,
                source_id=original_id or "",
                last_updated=_last_updated(resource),
                content=content,
                content_hash=content_hash,
                index=index,
                links=rewritten.links,
            )
        )
    return result
