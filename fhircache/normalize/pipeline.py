"""One page of payer resources through every normalizer step.

servable? → validate (its verdict kept, not a gate) → cache id → CARIN codings →
source tag → data-quality tag → index → JSON bytes → references rewritten →
displays filled → content hash → fetch time filled in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from fhircache.indexing import Index, extract_index
from fhircache.normalize.carin import add_current_adjudication_codings
from fhircache.normalize.display import fill_displays
from fhircache.normalize.ids import cache_id, content_id
from fhircache.normalize.parse import Parsed
from fhircache.normalize.provenance import SourceInfo, tag_source
from fhircache.normalize.quality import is_servable_type, mark_quality, servable_meta
from fhircache.normalize.references import ReferenceResolver, rewrite_references
from fhircache.normalize.validation import operation_outcome, validate

# Stands in for the fetch time while the content is hashed, so fetching
# unchanged data again yields the same hash (and no new version). Resources
# holding a U+0000 are quarantined before this step, so no payer data that
# reaches it can contain this.
_FETCHED_PLACEHOLDER = "\x00payerbridge-fetched-at\x00"
_FETCHED_PLACEHOLDER_JSON = orjson.dumps(_FETCHED_PLACEHOLDER)

# orjson writes U+0000 as `\u0000`; one preceded by an even number of
# backslashes is that escape, not a payer's literal backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


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
    # the OperationOutcome of structural validation when it failed (served anyway)
    outcome: dict | None = None

    @property
    def flagged(self) -> bool:
        return self.outcome is not None


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


def _text(value: object, limit: int) -> str:
    """`value` fit for a PostgreSQL text column: no NUL, no lone surrogate, at
    most `limit` characters ("" when it is not a string)."""
    if not isinstance(value, str):
        return ""
    text = value.encode("utf-8", "backslashreplace").decode().replace("\x00", "\ufffd")
    return text[:limit]


def _reason(outcome: dict) -> str:
    first = (outcome.get("issue") or [{}])[0]
    reason = first.get("diagnostics", "invalid")
    if first.get("expression"):
        reason = f"{first['expression'][0]}: {reason}"
    return reason


def quarantine_item(resource: dict, outcome: dict, raw: bytes | None = None) -> QuarantinedItem:
    """The quarantine record of a resource; `raw` is its orjson serialization."""
    if raw is None:
        try:
            raw = orjson.dumps(resource)
        except orjson.JSONEncodeError as exc:
            return quarantine_unserializable(resource, str(exc))
    return QuarantinedItem(
        resource_type=_text(resource.get("resourceType"), 64),
        source_id=_text(resource.get("id"), 255),
        digest=hashlib.sha256(raw).hexdigest(),
        reason=_text(_reason(outcome), 1000),
        outcome=outcome,
        # escaped by orjson: U+0000 is the six characters `\u0000` here
        content=raw.decode(),
    )


def quarantine_unserializable(resource: dict, message: str) -> QuarantinedItem:
    """The quarantine record of a parsed resource that is not JSON any more
    (a lone surrogate, an integer beyond 64 bits, nesting deeper than 254):
    only what identifies it is kept."""
    issue = {"severity": "error", "code": "structure", "diagnostics": f"not JSON: {message}"}
    resource_type = _text(resource.get("resourceType"), 64)
    source_id = _text(resource.get("id"), 255)
    key = f"{resource_type}\t{source_id}\t{message}".encode()
    return QuarantinedItem(
        resource_type=resource_type,
        source_id=source_id,
        digest=hashlib.sha256(key).hexdigest(),
        reason=_text(issue["diagnostics"], 1000),
        outcome=operation_outcome([issue]),
        content="",
    )


def quarantine_unparseable(data: bytes | str | dict | Parsed, message: str) -> QuarantinedItem:
    """The quarantine record of input that is not a JSON object at all (or not
    a Bundle one can take entries from)."""
    if isinstance(data, Parsed):
        data = data.raw
    if isinstance(data, dict):
        try:
            raw = orjson.dumps(data)
        except orjson.JSONEncodeError:
            raw = b""
    elif isinstance(data, str):
        raw = data.encode("utf-8", "backslashreplace")
    else:
        raw = bytes(data)
    issue = {"severity": "error", "code": "structure", "diagnostics": message}
    return QuarantinedItem(
        resource_type="",
        source_id="",
        digest=hashlib.sha256(raw).hexdigest(),
        reason=_text(message, 1000),
        outcome=operation_outcome([issue]),
        # as received, but text: invalid UTF-8 and NUL bytes become U+FFFD
        content=raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
    )


def _screen(resource: dict) -> tuple[bytes | None, QuarantinedItem | None]:
    """(its JSON bytes, None) when the store can hold `resource`, else (None, why not).

    Resources may arrive as dicts that are not JSON at all, and PostgreSQL text
    (the index) and jsonb cannot hold U+0000 (FHIR R4 datatype `string`:
    strings SHOULD NOT contain characters below 32 other than tab, CR and LF),
    so both are quarantined here, before validation and before any index
    value is written.
    """
    try:
        raw = orjson.dumps(resource)
    except orjson.JSONEncodeError as exc:
        return None, quarantine_unserializable(resource, str(exc))
    if b"\\u0000" in raw and _NUL_ESCAPE.search(raw):
        issue = {
            "severity": "error",
            "code": "invalid",
            "diagnostics": "contains the character U+0000, which the cache cannot store",
        }
        return None, quarantine_item(resource, operation_outcome([issue]), raw)
    return raw, None


def _entry_id(resource: dict, full_url: str | None) -> str:
    source_id = resource.get("id")
    if isinstance(source_id, str) and source_id:
        return cache_id(source_id)
    if full_url:
        tail = full_url.rstrip("/").rsplit("/", 1)[-1].removeprefix("urn:uuid:")
        return cache_id(tail)
    return content_id(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS))


def _last_updated(resource: dict) -> datetime | None:
    """meta.lastUpdated in UTC; None (stored as the load time) when absent or
    when it is outside years 1-9999 in UTC, which no reader could load back."""
    value = resource.get("meta", {}).get("lastUpdated")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            return None
    return None


def _unservable_type(resource: dict) -> dict:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        diagnostics = "resourceType is missing or not a string"
    else:
        diagnostics = f"unknown resource type {_text(resource_type, 64)!r}"
    return operation_outcome(
        [{"severity": "error", "code": "not-supported", "diagnostics": diagnostics}]
    )


def _with_notes(outcome: dict | None, notes: list[dict]) -> dict | None:
    if not notes:
        return outcome
    return operation_outcome([*(outcome or {}).get("issue", []), *notes])


def normalize_page(
    entries: list[tuple[str | None, dict]],
    source: SourceInfo,
    check=validate,
    *,
    may_hold_nul: bool = True,
    plain: list[dict] | None = None,
) -> PageResult:
    """Normalize one page: `entries` are (fullUrl or None, parsed resource).

    Serve unless unservable: only what cannot be served as FHIR is
    quarantined (not JSON, U+0000, no or an unknown resourceType, nesting past
    what orjson writes). A resource that fails structural validation is kept,
    with its OperationOutcome and our data-quality tag (`quality.py`).

    `may_hold_nul=False` skips the U+0000 screen (one serialization per
    resource) for a page parsed from JSON text that has no `\\u0000` escape:
    its resources cannot hold one, and orjson parsed them, so they are JSON
    up to the nesting depth orjson writes, which the final serialization checks.
    `plain`, when given, holds each entry's resource as orjson parsed it, for the
    validators: the entries themselves then hold numbers as `orjson.Fragment`s
    of their text (`parse.parse_page`), which validators cannot read.
    """
    result = PageResult()
    accepted: list[tuple[str | None, dict, str, dict | None]] = []
    for i, (full_url, resource) in enumerate(entries):
        raw = None
        if may_hold_nul:
            raw, refused = _screen(resource)
            if refused is not None:
                result.quarantined.append(refused)
                continue
        if not is_servable_type(resource.get("resourceType")):
            result.quarantined.append(quarantine_item(resource, _unservable_type(resource), raw))
            continue
        try:
            outcome = check(resource if plain is None else plain[i])
            accepted.append((full_url, resource, _entry_id(resource, full_url), outcome))
        except orjson.JSONEncodeError as exc:
            result.quarantined.append(quarantine_unserializable(resource, str(exc)))

    resolver = ReferenceResolver.for_page(
        ((url, r["resourceType"], rid) for url, r, rid, _ in accepted), [source.base_url]
    )
    fetched_at = source.fetched_at.isoformat()
    fetched_json = orjson.dumps(fetched_at)
    for _full_url, resource, rid, outcome in accepted:
        original_id = resource.get("id") if isinstance(resource.get("id"), str) else None
        resource_type = resource["resourceType"]
        resource["id"] = rid
        notes: list[dict] = []
        meta = servable_meta(resource, notes)
        outcome = _with_notes(outcome, notes)
        add_current_adjudication_codings(resource)
        tag_source(resource, source, original_id, _FETCHED_PLACEHOLDER)
        mark_quality(meta, outcome is not None)
        try:
            dumped = orjson.dumps(resource)
        except orjson.JSONEncodeError as exc:  # nested deeper than orjson writes
            as_sent = {"resourceType": resource_type, "id": original_id}
            result.quarantined.append(quarantine_unserializable(as_sent, str(exc)))
            continue
        index = extract_index(resource, resolver.resolve)
        rewritten = rewrite_references(dumped, resolver)
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
                outcome=outcome,
            )
        )
    return result
