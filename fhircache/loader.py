"""Load pages of payer resources into one consent's store.

Each Bundle is a page and is committed in one transaction (a reader never sees
half of it); loose resources are committed in batches. Loading the same input
twice leaves the store as it was: ids are deterministic and a row's version
moves only when its content hash changes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fhircache import repository
from fhircache.normalize.parse import Parsed, ParseError, parse_page
from fhircache.normalize.pipeline import PageResult, normalize_page, quarantine_unparseable
from fhircache.normalize.provenance import SourceInfo
from fhircache.normalize.validation_fast import check as structural_check
from fhircache.writer import PageWriter

__all__ = ["LoadResult", "Parsed", "SourceInfo", "delete_consent_data", "load_resources"]

BATCH_SIZE = 500


@dataclass
class LoadResult:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    # stored and served although structural validation failed (tagged, outcome kept)
    flagged: int = 0
    deleted: int = 0
    # per resource type: received, created, updated, unchanged, quarantined, flagged
    # (type "" for input with no usable resourceType)
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    # (resource "Type/id", reference) the payer's data never resolved
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    # local references to resources not in the store (only after a full sync)
    dangling: list[tuple[str, str]] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged

    def count(self, resource_type: object, name: str, n: int = 1) -> None:
        key = resource_type if isinstance(resource_type, str) else ""
        counts = self.by_type.setdefault(key, dict.fromkeys(_BY_TYPE_COUNTS, 0))
        counts[name] += n


_BY_TYPE_COUNTS = ("received", "created", "updated", "unchanged", "quarantined", "flagged")


Entries = list[tuple[str | None, dict]]


def _may_hold_nul(item: dict | bytes | str | Parsed) -> bool:
    """Whether parsed `item` may hold U+0000: JSON text holds it only as `\\u0000`
    (a rare false alarm, `\\\\u0000`, only costs the screen of its page)."""
    if isinstance(item, Parsed):
        item = item.raw
    if isinstance(item, str):
        return "\\u0000" in item
    if isinstance(item, bytes | bytearray | memoryview):
        return b"\\u0000" in bytes(item) if isinstance(item, memoryview) else b"\\u0000" in item
    return True


@dataclass
class _Page:
    entries: Entries = field(default_factory=list)
    broken: list = field(default_factory=list)  # quarantined unparseable items
    may_hold_nul: bool = False
    # with exact numbers (orjson.Fragments), `entries` come from the exact parse
    # and `plain` holds the same resources as orjson parsed them, for validators
    plain: list[dict] = field(default_factory=list)
    exact_numbers: bool = False

    def __bool__(self) -> bool:
        return bool(self.entries or self.broken)


def _pages(items: Iterable[dict | bytes | str | Parsed]) -> Iterator[_Page]:
    """The pages of the input: each Bundle, and batches of loose resources."""
    pending = _Page()
    for item in items:
        try:
            value, exact = parse_page(item)
        except ParseError as exc:
            pending.broken.append(quarantine_unparseable(item, str(exc)))
            continue
        if value.get("resourceType") == "Bundle":
            if pending:
                yield pending
                pending = _Page()
            if not isinstance(value.get("entry", []), list):
                yield _Page(broken=[quarantine_unparseable(item, "Bundle.entry is not a list")])
                continue
            page = _Page(may_hold_nul=_may_hold_nul(item), exact_numbers=exact is not None)
            plain_entries = value.get("entry") or []
            for i, entry in enumerate((exact or value).get("entry") or []):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    full_url = entry.get("fullUrl")
                    page.entries.append(
                        (full_url if isinstance(full_url, str) else None, entry["resource"])
                    )
                    page.plain.append(plain_entries[i]["resource"])
            # the page's trees are not kept alive while the loader writes the page
            # (with the collector back on, each collection would scan them)
            del value, exact, plain_entries
            yield page
        else:
            pending.entries.append((None, exact or value))
            pending.plain.append(value)
            pending.may_hold_nul = pending.may_hold_nul or _may_hold_nul(item)
            pending.exact_numbers = pending.exact_numbers or exact is not None
            if len(pending.entries) >= BATCH_SIZE:
                yield pending
                pending = _Page()
    if pending:
        yield pending


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a page is parsed and normalized.

    Parsing a page allocates hundreds of thousands of dicts and lists; each
    allocation burst triggers collections that scan every live container, which
    cost as much as the parse itself (measured in bench/load.py). Parsed JSON has
    no reference cycles, so reference counting frees it all the same.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_resources(
    consent,
    resources: Iterable[dict | bytes | str | Parsed],
    *,
    source: SourceInfo,
    full_sync: bool = False,
    guard: bool = False,
) -> LoadResult:
    """Load resources and/or Bundles (each Bundle one page) for one consent.

    Dicts passed in are normalized in place (the loader owns them). With
    `full_sync`, `resources` is everything the payer has for the consent: rows
    not in it are deleted afterwards, and dangling references are reported.
    With `guard` (the ETL's syncs) every page first checks, in its transaction,
    that the consent is still open (`repository.ConsentClosed` otherwise).
    """
    result = LoadResult()
    seen: set[tuple[str, str]] = set()
    pages = _pages(resources)
    with PageWriter(consent, guard=guard) as writer:
        while True:
            with _collector_paused():
                parsed = next(pages, None)
                if parsed is None:
                    break
                page = normalize_page(
                    parsed.entries,
                    source,
                    check=structural_check,
                    may_hold_nul=parsed.may_hold_nul,
                    plain=parsed.plain if parsed.exact_numbers else None,
                )
                page.quarantined.extend(parsed.broken)
                result.received += len(parsed.entries) + len(parsed.broken)
                result.quarantined += len(page.quarantined)
                _count_page(result, parsed.entries, parsed.broken, page)
                del parsed  # freed before the collector runs again
            writer.submit(page)
            result.unresolved.extend(page.unresolved)
            seen.update((r.resource_type, r.resource_id) for r in page.resources)
    result.created = writer.totals.created
    result.updated = writer.totals.updated
    result.unchanged = writer.totals.unchanged
    for resource_type, counts in writer.totals.by_type.items():
        for name, n in counts.items():
            result.count(resource_type, name, n)
    if full_sync:
        result.deleted = repository.delete_absent(consent, seen)
        result.dangling = repository.dangling_references(consent)
    return result


def _count_page(result: LoadResult, entries: Entries, broken: list, page: PageResult) -> None:
    """The page's received, quarantined and flagged counts, per type."""
    for _full_url, resource in entries:
        result.count(resource.get("resourceType"), "received")
    for item in broken:
        result.count(item.resource_type, "received")
    for item in page.quarantined:
        result.count(item.resource_type, "quarantined")
    for r in page.resources:
        if r.flagged:
            result.flagged += 1
            result.count(r.resource_type, "flagged")


def delete_consent_data(consent_id) -> dict[str, int]:
    """Delete everything cached for one consent (used by the purge)."""
    return repository.delete_consent_data(consent_id)
