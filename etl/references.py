"""What a page holds and what it points to, in the payer's own ids.

After the searches, the sync fetches what was referenced but never sent
(Practitioner, Organization, Location, Medication, ...). References are found
with a regular expression over the raw bytes (C speed; the loader does the
real, structural resolution), then reduced to `(type, id)` on the payer's FHIR
base: relative `Type/id`, absolute `{base}/Type/id`, `/_history/n` dropped.
Contained (`#x`), `urn:` and other servers' references are not fetchable.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from etl.fetch import Page

_REFERENCE = re.compile(rb'"reference"\s*:\s*"((?:[^"\\]|\\.)*)"')
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def reference_key(reference: str, base: str) -> tuple[str, str] | None:
    """`(type, id)` of a reference the payer can serve, else None."""
    if reference.startswith(base + "/"):
        reference = reference[len(base) + 1 :]
    elif "://" in reference or reference.startswith(("#", "urn:", "/")):
        return None
    parts = reference.split("?", 1)[0].split("/")
    if len(parts) < 2 or not _TYPE.fullmatch(parts[0]) or not _ID.fullmatch(parts[1]):
        return None
    return parts[0], parts[1]


def references_in(body: bytes, base: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for match in _REFERENCE.finditer(body):
        raw = match.group(1)
        try:
            text = orjson.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode()
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            continue
        key = reference_key(text, base)
        if key is not None:
            found.add(key)
    return found


def page_keys(page: Page, parsed: dict) -> None:
    """Fill `page.keys` and `page.entries_by_type` from a parsed page.

    What it references (`references_in`) is found later, by the thread that loads the
    page: the fetch thread goes on to the `next` link sooner."""
    if parsed.get("resourceType") == "Bundle":
        entries = parsed.get("entry")
        resources = (
            [e.get("resource") for e in entries if isinstance(e, dict)]
            if isinstance(entries, list)
            else []
        )
    else:
        resources = [parsed]
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if isinstance(rtype, str):
            page.entries_by_type[rtype] = page.entries_by_type.get(rtype, 0) + 1
            if isinstance(rid, str):
                page.keys.add((rtype, rid))
