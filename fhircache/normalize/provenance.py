"""Step: tag each resource with where it came from.

`meta.source` (FHIR R4 Meta.source: "a uri that identifies the source system
of the resource") is set to the resource's URL at the payer when the payer did
not set one; an extension on `meta` carries the payer, the payer's own id and
the fetch time. `meta.security` and every other meta element are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

SOURCE_EXTENSION = "https://payerbridge.dev/fhir/StructureDefinition/payer-source"


@dataclass(frozen=True)
class SourceInfo:
    payer: str  # the payer's slug
    base_url: str  # the payer's FHIR base
    fetched_at: datetime


def tag_source(
    resource: dict, source: SourceInfo, original_id: str | None, fetched_at: str
) -> dict:
    """Set meta.source (if absent) and our source extension (in place; returns it).

    `fetched_at` is passed as text so the loader can hash the content with a
    placeholder there: a re-fetch of unchanged data is then not a new version.
    """
    meta = resource.setdefault("meta", {})
    if "source" not in meta:
        base = source.base_url.rstrip("/")
        meta["source"] = (
            f"{base}/{resource['resourceType']}/{quote(original_id, safe='')}"
            if original_id
            else base
        )
    parts = [{"url": "payer", "valueString": source.payer}]
    if original_id:
        parts.append({"url": "originalId", "valueString": original_id})
    parts.append({"url": "fetchedAt", "valueInstant": fetched_at})
    # ours is replaced; everything else (even what is not an Extension) is kept
    extensions = [
        e
        for e in meta.get("extension") or []
        if not (isinstance(e, dict) and e.get("url") == SOURCE_EXTENSION)
    ]
    extensions.append({"url": SOURCE_EXTENSION, "extension": parts})
    meta["extension"] = extensions
    return resource
